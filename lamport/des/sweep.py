def sweep():
    pass


class SweepResult:
    pass
