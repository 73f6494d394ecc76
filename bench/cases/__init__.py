"""The benchmark's cases: each module runs one kind of load inside a worker process."""
