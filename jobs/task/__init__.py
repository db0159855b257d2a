"""What a run works on: the gate, the issue or pull request, its conversation and review threads."""
