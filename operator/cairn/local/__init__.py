"""cairn.local"""
