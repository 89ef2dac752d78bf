"""The queue: intake (the one way in), ids, and (later) the scheduler."""
