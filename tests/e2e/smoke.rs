use e2e_tests::{PATHS, Stack, StackOptions, chat};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke() {
    let stack = Stack::start(StackOptions::default()).await;
    for dp in &stack.dps {
        let reply = dp
            .http()
            .chat(
                PATHS[0],
                Some(stack.key("support-bot")),
                &chat("echo", "What is your refund policy?"),
                &[],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        println!("{}", reply.text());
    }
}
