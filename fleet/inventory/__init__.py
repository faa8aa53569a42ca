"""Inventory: storage positions, putaway and coil stacking, digging retrievals, smart tally.

`build_layout(site)` turns the site's racks and coil-yard slots into positions;
a `Yard` holds what lies where; `plan_putaway` places incoming loads; the rule
checker (`check_yard`, `check_placement`) validates any state; `plan_retrieval`
plans the reshuffles that free a buried coil; `LabelReader` + `decide` are the
tally; `InventoryRepository` stores it all; `InventoryService` is the facade the
API (`fleet.inventory.routes`) calls. See docs/inventory.md.
"""

from fleet.inventory.errors import (
    InvalidLoad,
    InventoryConflict,
    InventoryError,
    NoRoom,
    StackingRefused,
    UnknownLoad,
    UnknownPosition,
)
from fleet.inventory.layout import LOWER, RACK, UPPER, Layout, build_layout, position_id
from fleet.inventory.load import TURNOVER_WEIGHT, Load
from fleet.inventory.putaway import (
    PutawayOptions,
    PutawayResult,
    apply_putaway,
    first_free_putaway,
    plan_putaway,
)
from fleet.inventory.repository import InventoryRepository, RepositoryError, open_sqlite
from fleet.inventory.reshuffle import CraneMove, RetrievalPlan, plan_retrieval, plan_retrievals
from fleet.inventory.rules import (
    DEFAULT_SEGREGATION_M,
    StackingRules,
    Violation,
    check_placement,
    check_yard,
)
from fleet.inventory.service import InventoryService
from fleet.inventory.tally import (
    Action,
    Decision,
    LabelRead,
    LabelReader,
    Outcome,
    TallyPolicy,
    decide,
)
from fleet.inventory.yard import Yard

__all__ = [
    "DEFAULT_SEGREGATION_M",
    "LOWER",
    "RACK",
    "TURNOVER_WEIGHT",
    "UPPER",
    "Action",
    "CraneMove",
    "Decision",
    "InvalidLoad",
    "InventoryConflict",
    "InventoryError",
    "InventoryRepository",
    "InventoryService",
    "LabelRead",
    "LabelReader",
    "Layout",
    "Load",
    "NoRoom",
    "Outcome",
    "PutawayOptions",
    "PutawayResult",
    "RepositoryError",
    "RetrievalPlan",
    "StackingRefused",
    "StackingRules",
    "TallyPolicy",
    "UnknownLoad",
    "UnknownPosition",
    "Violation",
    "Yard",
    "apply_putaway",
    "build_layout",
    "check_placement",
    "check_yard",
    "decide",
    "first_free_putaway",
    "open_sqlite",
    "plan_putaway",
    "plan_retrieval",
    "plan_retrievals",
    "position_id",
]
