"""Running a notebook: the one executor the grader, the reference run and the self-check share.

:class:`GradingClient` is nbclient's ``NotebookClient`` with what grading needs:

- **a dead or stuck kernel costs one cell, not the notebook.** The cell where it happened gets
  an error; a new kernel is started and the earlier non-test cells are run again to rebuild the
  state (except those that killed or hung a kernel), then execution goes on;
- **evidence records are collected apart from the outputs** (see :mod:`autograder.evidence`):
  a record published during a test cell goes to ``records[cell_index]`` the moment it arrives,
  so ``clear_output`` or display updates from student code cannot erase or change it;
- **bounded outputs**: at most :data:`MAX_OUTPUTS_PER_CELL` outputs per cell, text cut at
  :data:`MAX_TEXT_CHARS` characters, and :data:`MAX_OUTPUT_BYTES` / :data:`MAX_RECORD_BYTES`
  for the whole notebook; widget messages are ignored. A kernel that floods its executor only
  loses its own outputs.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output

from . import evidence
from .verdict import is_test_cell

MAX_TEXT_CHARS = 20_000
MAX_OUTPUTS_PER_CELL = 200
MAX_OUTPUT_BYTES = 8 << 20
MAX_RECORD_BYTES = 8 << 20
MAX_RECORDS_PER_CELL = 5_000


def error_output(ename: str, evalue: str):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _size(value) -> int:
    """A cheap upper bound of an output's size: the length of every string in it."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_size(k) + _size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    return 8


def truncate_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit:,} more characters cut by the grader]\n"


@dataclass
class ExecutionResult:
    cells: list = field(default_factory=list)       # the executed cells (outputs, execution_count)
    records: dict = field(default_factory=dict)     # test cell index -> [record, ...]
    notes: list = field(default_factory=list)       # what went wrong on the way (kernel restarts...)


class ResilientCells:
    """The per-cell behaviour of the module docstring, for any nbclient ``NotebookClient``:
    :class:`GradingClient` here, nbgrader's ``Execute`` preprocessor in
    :class:`autograder.preprocessors.ResilientExecute` (formgrader, ``nbgrader autograde``).
    ``test_cells`` (set by the user): indices of the cells whose evidence records count."""

    test_cells: set = frozenset()
    _kernel_factory = None
    _reap = None          # called once a dead or stopped kernel is gone: ends what it left behind

    def _resilience(self):
        if "_bad_cells" not in self.__dict__:
            self.records, self.notes = {}, []
            self._output_bytes = self._record_bytes = 0
            self._bad_cells, self._cut_cells, self._replaying = set(), set(), False
        return self

    # ------------------------------------------------------------------ kernels
    def create_kernel_manager(self):
        if self._kernel_factory is not None:
            self.km = self._kernel_factory()
            return self.km
        return super().create_kernel_manager()

    async def _fresh_kernel(self) -> None:
        """Throw the kernel away and start a new one (restart_kernel proved unreliable after a
        second death: the new kernel never answered)."""
        try:
            await self._async_cleanup_kernel()
        except Exception:   # the old kernel is gone already
            self.km, self.kc = None, None
        if self._reap is not None:
            # Processes the kernel forked outlive it (a fork bomb's sleepers hold the sandbox
            # user's process limit, and the new kernel could not start): end them first.
            self._reap()
        self.create_kernel_manager()
        await self.async_start_new_kernel(**getattr(self, "_kernel_kwargs", {}))
        await self.async_start_new_kernel_client()

    async def async_start_new_kernel(self, **kwargs):
        self._kernel_kwargs = kwargs
        return await super().async_start_new_kernel(**kwargs)

    # ------------------------------------------------------------------ cells
    def preprocess_cell(self, cell, resources, index):
        """nbconvert's entry point (``execute_cell`` is bound to nbclient's own method)."""
        from nbclient.util import run_sync
        self._check_assign_resources(resources)
        cell = run_sync(self.async_execute_cell)(cell, index, store_history=True)
        return cell, self.resources

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        self._resilience()
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            cell.outputs = [error_output("KernelDied", "the kernel died while running this cell (for example "
                                                       "os._exit, a crash, or the memory limit); it was restarted")]
        except CellTimeoutError:
            cell.outputs = [error_output("CellTimeoutError", f"this cell ran longer than {self.timeout} s; "
                                                             "the kernel was stopped and restarted")]
        self.notes.append(f"cell {cell_index}: {cell.outputs[0]['ename']}")
        await self._restart_and_replay(cell_index)
        return cell

    async def _restart_and_replay(self, index: int) -> None:
        """New kernel; run the earlier non-test cells again, except those that killed or hung
        a kernel (if one does so again while replaying, it joins them and the replay restarts)."""
        self._bad_cells.add(index)
        while True:
            await self._fresh_kernel()
            for i, earlier in enumerate(self.nb.cells[:index]):
                if earlier.cell_type != "code" or i in self.test_cells or i in self._bad_cells \
                        or is_test_cell(earlier):
                    continue
                scratch = copy.deepcopy(earlier)              # replay output is not kept
                self._replaying = True
                try:
                    await NotebookClient.async_execute_cell(self, scratch, i, None, True)
                except (DeadKernelError, CellTimeoutError):
                    self._bad_cells.add(i)
                    break
                finally:
                    self._replaying = False
                self.nb.cells[i] = earlier                    # async_execute_cell stored the scratch copy
            else:
                return

    # ------------------------------------------------------------------ messages
    def output(self, outs, msg, display_id, cell_index):
        self._resilience()
        content = msg.get("content") or {}
        data = content.get("data") if isinstance(content, dict) else None
        if msg.get("msg_type") == "display_data" and isinstance(data, dict) and evidence.MIME in data:
            if cell_index in self.test_cells and not self._replaying:
                self._keep_record(cell_index, data[evidence.MIME])
            return None                                    # never an output
        if len(outs) >= MAX_OUTPUTS_PER_CELL or self._output_bytes >= MAX_OUTPUT_BYTES:
            if cell_index not in self._cut_cells:
                self._cut_cells.add(cell_index)
                outs.append(new_output("stream", name="stdout", text="[further output of this cell was cut by the grader]\n"))
            return None
        out = super().output(outs, msg, display_id, cell_index)
        if out is not None:
            self._trim(out)
            self._output_bytes += _size(out)
        return out

    def _keep_record(self, cell_index: int, record) -> None:
        kept = self.records.setdefault(cell_index, [])
        size = len(json.dumps(record)) if len(kept) < MAX_RECORDS_PER_CELL else MAX_RECORD_BYTES + 1
        if self._record_bytes + size > MAX_RECORD_BYTES:
            kept.append({"kind": "overflow", "value": {}, "params": {}})
            return
        self._record_bytes += size
        kept.append(record)

    @staticmethod
    def _trim(out) -> None:
        if out.get("output_type") == "stream":
            out["text"] = truncate_text(str(out.get("text", "")))
        elif out.get("output_type") == "error":
            out["evalue"] = truncate_text(str(out.get("evalue", "")), 2000)
            out["traceback"] = [truncate_text(str(t), 4000) for t in list(out.get("traceback", []))[:60]]
        for mime, value in list(out.get("data", {}).items()):
            if isinstance(value, str) and len(value) > 2_000_000:
                out["data"][mime] = f"[a {mime} output of {len(value):,} characters was cut by the grader]"
            elif mime.startswith("text/") and isinstance(value, str):
                out["data"][mime] = truncate_text(value)

    def handle_comm_msg(self, outs, msg, cell_index):
        return None     # widgets do not matter for grading (and their state is unbounded)

    def result(self) -> ExecutionResult:
        self._resilience()
        return ExecutionResult(cells=list(self.nb.cells), records=self.records, notes=self.notes)


class GradingClient(ResilientCells, NotebookClient):
    """nbclient's client with :class:`ResilientCells`: the grader's executor and the self-check."""

    def __init__(self, nb, *, test_cells=(), kernel_factory=None, reap=None, **kwargs):
        kwargs.setdefault("allow_errors", True)
        kwargs.setdefault("store_widget_state", False)
        kwargs.setdefault("interrupt_on_timeout", False)   # a timeout kills the kernel instead
        super().__init__(nb, **kwargs)
        self.test_cells = set(test_cells)
        self._kernel_factory = kernel_factory
        self._reap = reap
        self._resilience()
