"""cairn.k8s"""
