import pytest
import torch


@pytest.fixture
def one_thread():
    """Tiny convolutions run slower on two contending threads than on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
