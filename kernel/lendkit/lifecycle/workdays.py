"""Working days in mainland China, for products that keep due dates off holidays.

The State Council publishes each year's public holidays and make-up working
days (调休) late in the year before; ``chinesecalendar`` carries them. For a
year it has no data for yet, weekends are the only days off: a due date then
may fall on a holiday announced later, and the next release of the package
moves it.
"""

from __future__ import annotations

from datetime import date, timedelta

__all__ = ["is_working_day", "next_working_day"]


def is_working_day(day: date) -> bool:
    # Imported on first use: its tables of dates cost `lendkit quote` its start
    # though only products that move due dates off holidays look at them.
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year not yet announced
        return day.weekday() < 5


def next_working_day(day: date) -> date:
    """``day`` itself if it is a working day, else the first one after it."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day
