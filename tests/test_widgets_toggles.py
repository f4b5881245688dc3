"""The toggles control: a set of choices whose value is the tuple of the buttons pressed."""

import matplotlib.pyplot as plt
import pytest

from course_utils.widgets import make_control, present, toggles

WORDS = ("BANK", "ACCOUNT", "FREE", "MEETING")


def render_email(words: tuple = ("BANK",)):
    fig, ax = plt.subplots()
    ax.set_title(" ".join(words) or "(no words)")
    return fig


def test_value_follows_the_buttons_and_the_buttons_follow_the_value():
    control = toggles(WORDS, value=("FREE", "BANK"), description="words")
    assert control.value == ("BANK", "FREE"), "the value lists the pressed options in the options' order"
    assert [b.value for b in control.buttons] == [True, False, True, False]
    control.buttons[3].value = True  # a click
    assert control.value == ("BANK", "FREE", "MEETING")
    control.buttons[0].value = False
    assert control.value == ("FREE", "MEETING")
    control.value = ()
    assert not any(b.value for b in control.buttons)
    assert make_control("words", control, ("ACCOUNT",)) is control and control.value == ("ACCOUNT",)


def test_bad_options_and_values_are_clear_errors():
    with pytest.raises(ValueError, match="distinct options"):
        toggles(("A", "A"))
    with pytest.raises(ValueError, match="distinct options"):
        toggles(())
    control = toggles(WORDS)
    with pytest.raises(ValueError, match="HELLO"):
        control.value = ("HELLO",)
    assert control.value == ()


def test_present_starts_at_the_render_default_and_redraws_on_a_click():
    seen = []

    def render(words: tuple = ("BANK", "ACCOUNT")):
        seen.append(words)
        return render_email(words)

    panel = present(render, words=toggles(WORDS))
    assert panel.values == {"words": ("BANK", "ACCOUNT")} and seen == [("BANK", "ACCOUNT")]
    panel.controls["words"].buttons[2].value = True  # click FREE
    assert panel.values["words"] == ("BANK", "ACCOUNT", "FREE") and seen[-1] == ("BANK", "ACCOUNT", "FREE")
    panel.controls["words"].buttons[0].value = False  # and BANK off again
    assert seen[-1] == ("ACCOUNT", "FREE")
    assert plt.get_fignums() == []
