"""GitHub-shaped webhook payloads, written after GitHub's documented schemas
(docs.github.com, "Webhook events and payloads"): the fields Cairn reads, and
enough of the rest that a payload looks like a real delivery."""

from __future__ import annotations

import copy
from typing import Any

OWNER = "octo-org"
REPO = "hello-world"
FULL_NAME = f"{OWNER}/{REPO}"
SHA_BEFORE = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
SHA_AFTER = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
SHA_TAG_OBJECT = "a3c9f1e0b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0"
SHA_PR_HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
SHA_PR_BASE = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
ZERO_SHA = "0" * 40


def user(login: str = "octocat", user_id: int = 583231) -> dict[str, Any]:
    return {
        "login": login,
        "id": user_id,
        "node_id": "MDQ6VXNlcjU4MzIzMQ==",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
        "html_url": f"https://github.com/{login}",
        "type": "User",
        "site_admin": False,
    }


def repository(full_name: str = FULL_NAME) -> dict[str, Any]:
    owner, name = full_name.split("/")
    return {
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": name,
        "full_name": full_name,
        "private": False,
        "owner": {**user(owner, 9919), "type": "Organization"},
        "html_url": f"https://github.com/{full_name}",
        "description": "This your first repo!",
        "fork": False,
        "url": f"https://api.github.com/repos/{full_name}",
        "git_url": f"git://github.com/{full_name}.git",
        "ssh_url": f"git@github.com:{full_name}.git",
        "clone_url": f"https://github.com/{full_name}.git",
        "default_branch": "main",
        "visibility": "public",
        "pushed_at": 1700000000,
        "created_at": 1296068472,
    }


def commit(sha: str, message: str = "Fix all the bugs") -> dict[str, Any]:
    return {
        "id": sha,
        "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
        "distinct": True,
        "message": message,
        "timestamp": "2024-05-02T10:41:07+02:00",
        "url": f"https://github.com/{FULL_NAME}/commit/{sha}",
        "author": {"name": "Mona Octocat", "email": "mona@github.com", "username": "octocat"},
        "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
        "added": ["docs/new.md"],
        "removed": [],
        "modified": ["README.md"],
    }


def push_branch(
    branch: str = "main", full_name: str = FULL_NAME, after: str = SHA_AFTER
) -> dict[str, Any]:
    return {
        "ref": f"refs/heads/{branch}",
        "before": SHA_BEFORE,
        "after": after,
        "repository": repository(full_name),
        "pusher": {"name": "octocat", "email": "mona@github.com"},
        "sender": user(),
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/{full_name}/compare/{SHA_BEFORE[:12]}...{after[:12]}",
        "commits": [commit(after)],
        "head_commit": commit(after),
    }


def push_tag(tag: str = "v1.2.0") -> dict[str, Any]:
    """An annotated tag: ``after`` is the tag object, ``head_commit`` the commit."""
    payload = push_branch()
    payload.update(
        ref=f"refs/tags/{tag}",
        before=ZERO_SHA,
        after=SHA_TAG_OBJECT,
        created=True,
        base_ref="refs/heads/main",
        compare=f"https://github.com/{FULL_NAME}/compare/{tag}",
        commits=[],
    )
    return payload


def push_branch_deleted(branch: str = "feature/old") -> dict[str, Any]:
    payload = push_branch(branch)
    payload.update(
        after=ZERO_SHA,
        created=False,
        deleted=True,
        compare=f"https://github.com/{FULL_NAME}/compare/{SHA_BEFORE[:12]}...000000000000",
        commits=[],
        head_commit=None,
    )
    return payload


def pull_request(action: str = "opened", number: int = 42) -> dict[str, Any]:
    repo = repository()
    fork = repository("mona/hello-world")
    fork["fork"] = True
    payload: dict[str, Any] = {
        "action": action,
        "number": number,
        "pull_request": {
            "url": f"https://api.github.com/repos/{FULL_NAME}/pulls/{number}",
            "id": 1785521862,
            "node_id": "PR_kwDOABII5c5qbO7G",
            "html_url": f"https://github.com/{FULL_NAME}/pull/{number}",
            "number": number,
            "state": "closed" if action == "closed" else "open",
            "locked": False,
            "title": "Update the README with new information",
            "user": user("mona", 2),
            "body": "This is a pretty simple change that we need to pull into main.",
            "created_at": "2024-05-02T08:41:07Z",
            "updated_at": "2024-05-02T08:41:07Z",
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
            "draft": False,
            "head": {
                "label": "mona:new-topic",
                "ref": "new-topic",
                "sha": SHA_PR_HEAD,
                "user": user("mona", 2),
                "repo": fork,
            },
            "base": {
                "label": f"{OWNER}:main",
                "ref": "main",
                "sha": SHA_PR_BASE,
                "user": repo["owner"],
                "repo": repo,
            },
            "merged": False,
            "mergeable": None,
            "comments": 0,
            "commits": 1,
            "additions": 3,
            "deletions": 1,
            "changed_files": 1,
        },
        "repository": repo,
        "sender": user("mona", 2),
    }
    if action == "synchronize":
        payload["before"] = SHA_PR_BASE
        payload["after"] = SHA_PR_HEAD
    return payload


def ping(full_name: str | None = FULL_NAME) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "zen": "Keep it logically awesome.",
        "hook_id": 30,
        "hook": {
            "type": "Repository",
            "id": 30,
            "name": "web",
            "active": True,
            "events": ["push", "pull_request"],
            "config": {
                "content_type": "json",
                "insecure_ssl": "0",
                "url": "https://cairn.example.com/github",
            },
        },
        "sender": user(),
    }
    if full_name is not None:
        payload["repository"] = repository(full_name)
    return payload


def issue_opened() -> dict[str, Any]:
    return {
        "action": "opened",
        "issue": {
            "id": 1,
            "number": 1347,
            "title": "Found a bug",
            "user": user(),
            "state": "open",
            "body": "I'm having a problem with this.",
            "labels": [],
        },
        "repository": repository(),
        "sender": user(),
    }


def copy_of(payload: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(payload)
