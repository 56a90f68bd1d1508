"""Every service setting the code reads is documented where an operator looks for it."""

from __future__ import annotations

import inspect
import re

from rplnav.service import config
from tests.service.conftest import ROOT


def test_every_setting_is_in_the_settings_table_and_the_readme():
    read = set(re.findall(r'"(RPLNAV_[A-Z_]+)"', inspect.getsource(config.Settings.from_env)))
    read -= {"RPLNAV_TEST_PAUSE_AFTER_AUDIT"}  # fault injection for one test, never an operator's setting
    assert {"RPLNAV_USER_HEADER", "RPLNAV_REPORT_LINK_TTL_MINUTES", "RPLNAV_REPORT_LINK_SECRET"} <= read
    table = set(re.findall(r"^\| (RPLNAV_[A-Z_]+) \|", config.__doc__ or "", re.M))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"RPLNAV_[A-Z_]+", readme))
    named |= {n + "_FILE" for n in re.findall(r"(RPLNAV_[A-Z_]+)\(_FILE\)", readme)}
    assert read - table == set(), "missing from the table in service/config.py"
    assert read - named == set(), "missing from README.md"
