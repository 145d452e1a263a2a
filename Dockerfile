# syntax=docker/dockerfile:1.7
# Cairn: one image for the operator (`cairn operator`), the webhook receiver
# (`cairn webhook`) and the sandbox step runner (`/opt/cairn/bin/cairn runner`).
#
#   docker build -t cairn:dev .
#
# Stages:
#   runtime  a relocatable Python 3.11 with Cairn (no extras) in /opt/cairn and
#            the shared libraries it loads, built on Debian 11 (glibc 2.31).
#            Jobs with a `container:` image get a copy of it through an init
#            container, so the user's image needs only /bin/sh and glibc >= 2.31.
#   check    runs that runtime on a bare Debian without Python: the build
#            fails if it is not self-contained.
#   wheels   the package with the `operator` extra, as wheels.
#   final    slim Python 3.11, git (git sources), the operator, the runtime;
#            runs as the unprivileged user 1001.

FROM python:3.11-slim-bullseye AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends patchelf \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN <<'EOF'
set -eu
prefix=/opt/cairn
version=3.11
mkdir -p "$prefix/bin" "$prefix/lib"
cp -a "/usr/local/bin/python$version" "$prefix/bin/"
ln -s "python$version" "$prefix/bin/python3"
cp -a /usr/local/lib/libpython$version.so* "$prefix/lib/"
# The standard library, less what a runner never needs. Python finds its
# prefix from its own location (lib/python3.11/os.py next to bin/).
tar -C /usr/local/lib \
    --exclude="python$version/test" --exclude="python$version/idlelib" \
    --exclude="python$version/tkinter" --exclude="python$version/turtledemo" \
    --exclude="python$version/*/test" --exclude="python$version/*/tests" \
    --exclude="python$version/site-packages/*" --exclude='__pycache__' \
    -cf - "python$version" | tar -C "$prefix/lib" -xf -
"$prefix/bin/python3" -m ensurepip --default-pip >/dev/null
"$prefix/bin/python3" -m pip install --no-cache-dir --no-compile /src
"$prefix/bin/python3" -m pip uninstall -y -q pip setuptools
rm -f "$prefix"/bin/pip*
# Bundle every shared library the interpreter and its extension modules load,
# except glibc itself, and point them at each other with relative rpaths.
for f in "$prefix/bin/python$version" "$prefix"/lib/*.so* "$prefix"/lib/python$version/lib-dynload/*.so; do
  ldd "$f" | awk '/=> \// {print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|libutil.so.*|ld-linux*) ;;
    *) [ -e "$prefix/lib/$(basename "$lib")" ] || cp -L "$lib" "$prefix/lib/" ;;
  esac
done
patchelf --set-rpath '$ORIGIN/../lib' "$prefix/bin/python$version"
for so in "$prefix"/lib/*.so*; do patchelf --set-rpath '$ORIGIN' "$so"; done
for so in "$prefix"/lib/python$version/lib-dynload/*.so; do patchelf --set-rpath '$ORIGIN/../..' "$so"; done
# Bytecode ahead of time: the runtime is mounted read-only in sandboxes.
"$prefix/bin/python3" -m compileall -q "$prefix/lib"
EOF

FROM debian:bullseye-slim AS check
COPY --from=runtime /opt/cairn /opt/cairn
RUN test ! -e /usr/local/bin/python3 \
 && /opt/cairn/bin/cairn --version \
 && /opt/cairn/bin/python3 -c "import ssl, hashlib, json, subprocess, cairn.runner; hashlib.sha256(b'x')"

FROM python:3.11-slim-bookworm AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[operator]"

FROM python:3.11-slim-bookworm
# git and ssh fetch git sources; prlimit (util-linux) bounds their size.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates util-linux \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1001 cairn \
 && useradd --uid 1001 --gid 1001 --create-home --shell /bin/bash cairn
COPY --from=wheels /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels "cairn-ci[operator]" \
 && rm -rf /wheels
# Taken from the check stage, so the image is only built once the runtime passed it.
COPY --from=check /opt/cairn /opt/cairn
ENV PYTHONUNBUFFERED=1
USER 1001:1001
WORKDIR /home/cairn
CMD ["cairn", "--help"]
