"""Page filters: values from records are escaped and kept in their own bidi box."""

from crm.formatting import isolate_join


def test_isolate_join_escapes_each_item_and_isolates_it():
    joined = isolate_join(["Acme \u202eevil", "<b>Beta</b>"])
    assert str(joined) == "<bdi>Acme \u202eevil</bdi>, <bdi>&lt;b&gt;Beta&lt;/b&gt;</bdi>"


def test_isolate_join_of_nothing_is_empty():
    assert str(isolate_join([])) == ""
