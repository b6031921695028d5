from nmt.errors import OptionError, SpelledError, literal
from nmt_cli.common import flag


def test_an_option_error_names_the_argument_its_value_and_the_options_it_mentions():
    error = OptionError("src_file", "goes with {ref_file}", "'a.de'")
    assert str(error) == "src_file 'a.de': goes with ref_file"
    assert error.spelled(flag) == "--src 'a.de': goes with --ref"


def test_the_users_text_in_a_message_is_never_read_as_a_field():
    error = OptionError("metrics", literal("'{x' is not one of bleu"), "'{x}'")
    assert str(error) == "metrics '{x}': '{x' is not one of bleu"
    assert SpelledError(literal("corpus {c}: use ") + "{overrides}").spelled(flag) == (
        "corpus {c}: use --set"
    )
