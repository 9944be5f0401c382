"""The sans-I/O core: bytes in, records out. Standard library only.

capture → decode → flows → streams → http1 → exchanges → classify → records.
Nothing here imports pandas, rich, scapy or pyshark (tests/test_layering.py asserts it).
"""
