"""`topics build` on both backends: clusters, ids, incremental runs, rebuilds, merges."""

from __future__ import annotations

from tests.factories import CHANNEL_ID
from tests.topics_helpers import add_posts, assignment, fixture_archive, stories
from tgparser.storage import Storage
from tgparser.topics.build import build
from tgparser.topics.quality import score

SPACE = f"chat:{CHANNEL_ID}"


def test_fixture_builds_story_topics_with_stable_ids(storage: Storage) -> None:
    truth = fixture_archive(storage)
    [report] = build(storage, [CHANNEL_ID])
    assert report.rebuilt and report.posts == len(truth) and report.new_topics == report.topics
    placed = assignment(storage, SPACE)
    keys = sorted((CHANNEL_ID, m) for m in truth)
    # every post is in a topic or left out; score what was placed
    predicted = [placed.get(k, f"none:{k[1]}") for k in keys]
    quality = score(predicted, [truth[k[1]] for k in keys])
    assert quality["f1"] >= 0.6 and quality["nmi"] >= 0.9, quality
    topics = storage.list_topics(spaces=[SPACE])
    for topic in topics:
        # an id is the anchor that founded it
        chat, message = topic["id"].split(":")
        assert int(chat) == CHANNEL_ID and (CHANNEL_ID, int(message)) in {
            k for k, t in placed.items() if t == topic["id"]
        }
        assert topic["title"] and topic["keywords"] and topic["anchors"]
        assert topic["type"] == ("cluster" if topic["size"] >= 2 else "singleton")

    # the same data again: nothing changes, not even a timestamp
    before = {t["id"]: t for t in storage.list_topics(spaces=[SPACE])}
    members_before = sorted(
        storage.space_members(SPACE), key=lambda m: (m["topic_id"], m["message_id"])
    )
    [again] = build(storage, [CHANNEL_ID])
    assert not again.rebuilt and again.assigned == 0 and again.new_topics == 0
    assert {t["id"]: t for t in storage.list_topics(spaces=[SPACE])} == before
    members_after = sorted(
        storage.space_members(SPACE), key=lambda m: (m["topic_id"], m["message_id"])
    )
    assert members_after == members_before

    # --rebuild re-clusters everything and keeps the ids
    [rebuilt] = build(storage, [CHANNEL_ID], rebuild=True)
    assert rebuilt.rebuilt and rebuilt.new_topics == 0
    assert assignment(storage, SPACE) == placed

    # a space built by an older builder is re-clustered once after an upgrade, ids kept
    storage._execute(
        "UPDATE topic_spaces SET builder_version = 'builtin-0' "
        f"WHERE space = {storage.placeholder}",
        (SPACE,),
    )
    [upgraded] = build(storage, [CHANNEL_ID])
    assert upgraded.rebuilt and upgraded.new_topics == 0
    assert assignment(storage, SPACE) == placed
    [after] = build(storage, [CHANNEL_ID])
    assert not after.rebuilt


def test_ten_percent_new_posts_join_topics_and_move_at_most_one_percent(storage: Storage) -> None:
    rows = stories()
    old = [(i + 1, text) for i, (story, _, text) in enumerate(rows) if i % 10 != 9]
    new = [(i + 1, text) for i, (story, _, text) in enumerate(rows) if i % 10 == 9]
    add_posts(storage, old)
    build(storage, [CHANNEL_ID])
    before = assignment(storage, SPACE)
    add_posts(storage, new)
    [report] = build(storage, [CHANNEL_ID])
    assert not report.rebuilt and report.assigned > 0
    after = assignment(storage, SPACE)
    moved = [k for k, t in before.items() if after.get(k) != t]
    assert len(moved) <= 0.01 * len(before)
    story = {i + 1: s for i, (s, _, _) in enumerate(rows)}
    # new posts went to topics of their own story
    joined = [k for k in after if k not in before and after[k] in set(before.values())]
    right = [
        k for k in joined
        if any(story[o[1]] == story[k[1]] for o, t in before.items() if t == after[k])
    ]  # fmt: skip
    assert joined and len(right) >= 0.8 * len(joined)


def test_ads_noise_and_duplicates_never_found_or_join_a_topic(storage: Storage) -> None:
    story = [
        (1, "Gazprom halts Nord Stream gas flows for ten days citing Siemens turbine works."),
        (2, "Nord Stream stopped: Gazprom says the Siemens turbine needs ten days of repairs."),
        (3, "Germany calls the Nord Stream turbine story political; Siemens says it is ready."),
    ]
    ads = [
        (4, "Buy Nord Stream turbine models at a discount! Gazprom fans, promo code SIEMENS."),
        (5, "Nord Stream Gazprom Siemens turbine lol"),
    ]
    dup = [(6, "Gazprom halts Nord Stream gas flows for ten days citing Siemens turbine works.")]
    add_posts(
        storage,
        story + ads + dup,
        doc_fields={
            4: {"is_ad": True, "ad_reasons": ["promo code"]},
            5: {"is_noise": True, "noise_reason": "short"},
            6: {"duplicate_of_chat_id": CHANNEL_ID, "duplicate_of_message_id": 1},
        },
    )
    build(storage, [CHANNEL_ID])
    [topic] = storage.list_topics(spaces=[SPACE])
    members = {m["message_id"]: m for m in storage.topic_members(topic["id"])}
    assert set(members) == {1, 2, 3, 6}
    assert (
        members[6]["kind"] == "duplicate" and "duplicate of post 1" in members[6]["justification"]
    )
    assert all(members[i]["kind"] == "post" for i in (1, 2, 3))
    assert "cosine" in members[2]["justification"] and "shares:" in members[2]["justification"]


def test_comments_join_as_supporting_items_when_on_topic(storage: Storage) -> None:
    group = -1009999
    add_posts(
        storage,
        [
            (1, "Boeing machinists in Seattle voted to strike after rejecting a 25% pay offer."),
            (2, "Boeing machinists strike in Seattle: 33,000 walk off, 737 MAX output halted."),
        ],
    )
    comments = [
        (10, "The Boeing machinists are right, 25% is not enough after years of no raises."),
        (11, "lol"),
        (12, "Does anyone know a good pizza place in Lisbon?"),
    ]
    add_posts(
        storage,
        comments,
        chat_id=group,
        username="",
        msg_fields={
            mid: {"kind": "comment", "parent_chat_id": CHANNEL_ID, "parent_message_id": 1}
            for mid, _ in comments
        },
        doc_fields={11: {"is_noise": True, "noise_reason": "short"}},
    )
    build(storage, [CHANNEL_ID])
    [topic] = storage.list_topics(spaces=[SPACE])
    items = storage.topic_members(topic["id"])
    comment_items = [m for m in items if m["kind"] == "comment"]
    assert [(m["chat_id"], m["message_id"]) for m in comment_items] == [(group, 10)]
    assert comment_items[0]["role"] == "supporting"
    assert (
        "comment on" in comment_items[0]["justification"]
        and "post 1" in comment_items[0]["justification"]
    )
    assert topic["size"] == 2  # comments are items, not posts of the topic
