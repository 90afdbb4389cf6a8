"""Helpers shared by the fork's tests of the C Future and Task
(test_c_future, test_c_task).  Not a test module itself."""

from test.support import script_helper


class ChildScenarioCases:
    """Runs each scenario in a child interpreter, so that a crash fails one
    test instead of the whole run.

    `scenarios` maps a name to code run after `prelude`, once for each class
    name in `classes` (the child's sys.argv[1]), then a gc.collect()."""

    prelude = ''
    scenarios = {}
    classes = []

    def test_scenarios(self):
        for name, code in self.scenarios.items():
            for cls in self.classes:
                with self.subTest(scenario=name, cls=cls):
                    script_helper.assert_python_ok(
                        '-c', self.prelude + code + '\ngc.collect()\n', cls)
