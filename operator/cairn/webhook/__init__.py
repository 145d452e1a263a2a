"""cairn.webhook"""
