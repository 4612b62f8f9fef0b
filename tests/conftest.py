"""Shared pytest hooks for tests/."""


def pytest_terminal_summary(terminalreporter, config):
    """Show the browser test's report (tests/test_browser.py) even when output is captured."""
    report = getattr(config, "book_browser_report", None)
    if report:
        terminalreporter.section("browser check of the built book")
        terminalreporter.write_line(report)
