"""The training system: `config` (options), `loop` (fit, evaluate), `checkpoint`,
`schedules`, and `run` (the `train()` API that ties data, model, loop and run folder)."""
