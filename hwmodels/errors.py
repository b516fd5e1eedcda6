"""Errors the hardware model raises for bad configs or inputs (the CLI turns them into one line)."""


class HardwareModelError(Exception):
    """Base class: a user-fixable problem with a hardware config or workload."""


class ConfigError(HardwareModelError):
    """A hardware config key is unknown, missing, or has an impossible value."""


class FitError(HardwareModelError):
    """A layer cannot be mapped onto the given hardware (e.g. does not fit even from DRAM)."""
