"""The union catalogue's rules and data, without I/O: records and match keys, search text and
tokens, the search query, requestability (HKALL-01/02/03, MALA-03)."""
