"""The ILL benchmarks: whole loans, routing with many libraries, memory."""
