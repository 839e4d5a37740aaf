"""A stand-in for torch and the models, for `run.sh --fake-gpu` (selftest.sh):
jobs take the same code path through the measurement window, the result files
and the report, while a "step" is a sleep. Lets the orchestration (several
processes, the start signal, timeouts, cleanup, the report) be tested on a
machine without a GPU. Never used in a real run."""

import time

STEP_MS = {"resnet50": 8.0, "transformer": 4.0, "infer": 2.0}


class _Event:
    def __init__(self, enable_timing=False):
        self.t = None

    def record(self):
        self.t = time.time()

    def elapsed_time(self, other):
        return (other.t - self.t) * 1e3


class _Cuda:
    Event = _Event

    @staticmethod
    def is_available():
        return True

    @staticmethod
    def mem_get_info():
        return 80 << 30, 80 << 30

    @staticmethod
    def set_per_process_memory_fraction(fraction):
        pass

    @staticmethod
    def max_memory_allocated():
        return 0

    @staticmethod
    def synchronize():
        pass


class FakeTorch:
    __version__ = "fake"
    cuda = _Cuda()


class _Loss:
    def __init__(self, value):
        self.value = value

    def item(self):
        return self.value


class FakeTrainer:
    def __init__(self, model_name):
        self.seconds = STEP_MS[model_name] / 1e3
        self.loss = 2.0

    def step(self, i):
        time.sleep(self.seconds)
        self.loss *= 0.999
        return _Loss(self.loss)


def fake_serve():
    time.sleep(STEP_MS["infer"] / 1e3)
