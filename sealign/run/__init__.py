"""The run: the loop and its state, the schedules, the assembly of the parts (components), the actor,
the evaluation, and the settings they read."""
