use super::*;

#[test]
fn parents_follow_the_wire_names() {
    for category in Category::ALL {
        let expected = category
            .name()
            .split_once('/')
            .and_then(|(top, _)| Category::parse(top));
        assert_eq!(parent(category), expected, "{category}");
    }
}

#[test]
fn closure_adds_parents_and_keeps_everything_else() {
    let set: CategorySet = [
        Category::SelfHarmIntent,
        Category::ViolenceGraphic,
        Category::Hate,
    ]
    .into_iter()
    .collect();
    assert_eq!(
        with_parents(set).names(),
        [
            "hate",
            "self-harm",
            "self-harm/intent",
            "violence",
            "violence/graphic"
        ]
    );
    assert_eq!(with_parents(CategorySet::EMPTY), CategorySet::EMPTY);
}

#[test]
fn closure_is_idempotent() {
    let all: CategorySet = Category::ALL.into_iter().collect();
    assert_eq!(with_parents(all), all);
    for category in Category::ALL {
        let once = with_parents([category].into_iter().collect());
        assert_eq!(with_parents(once), once);
    }
}
