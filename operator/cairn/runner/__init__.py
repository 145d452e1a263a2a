"""cairn.runner"""
