"""cairn.expr"""
