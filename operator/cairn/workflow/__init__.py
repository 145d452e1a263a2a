"""cairn.workflow"""
