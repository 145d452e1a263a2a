"""cairn.engine"""
