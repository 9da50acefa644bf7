import os
import subprocess
import sys

from pipeline.core.native_logs import quiet_native_logs, stderr_fd


def test_what_native_code_writes_to_stderr_is_hidden_and_python_errors_still_propagate():
    script = (
        "import os, sys\n"
        "from pipeline.core.native_logs import quiet_native_logs, stderr_fd\n"
        "with quiet_native_logs():\n"
        "    os.write(2, b'C++ chatter\\n')\n"
        "    os.write(stderr_fd(), b'kept\\n')\n"
        "os.write(2, b'after\\n')\n"
        "with quiet_native_logs():\n"
        "    raise ValueError('a Python error')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("kept\nafter\n") and "ValueError: a Python error" in result.stderr
    assert "C++ chatter" not in result.stderr


def test_stderr_is_restored_after_the_block():
    before = os.fstat(2).st_ino
    with quiet_native_logs():
        assert os.fstat(2).st_ino != before
    assert os.fstat(2).st_ino == before and stderr_fd() == 2
