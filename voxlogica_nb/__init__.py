"""VoxLogicA spatial model checking in Jupyter."""
