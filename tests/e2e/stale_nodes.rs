//! A control-plane replica that crashed must, when it restarts, clear the `connected`
//! flags of the data planes it served: its replica id (host and gRPC address) survives
//! the restart. Before, the id carried the process id and such nodes stayed `connected`
//! in GET /nodes for ever.

use std::time::Duration;

use e2e_tests::{Stack, StackOptions, eventually_within};
use http::Method;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_gone_with_a_crashed_control_plane_is_not_shown_connected() {
    let mut stack = Stack::start(StackOptions::default()).await;
    let api = stack.api.clone();
    let connected = |nodes: &Value, id: &str| {
        nodes["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["node_id"] == id)
            .map(|n| n["connected"] == true)
    };
    let nodes = api.expect(Method::GET, "/nodes", None, 200).await;
    assert_eq!(connected(&nodes, "dp-1"), Some(true), "{nodes}");

    // The control plane crashes; dp-1 goes away for good; the control plane restarts in
    // place and dp-0 reconnects to it.
    stack.cp.kill();
    stack.dps[1].kill();
    stack.cp.restart().await;
    eventually_within("dp-0 reconnects", Duration::from_secs(20), || {
        let api = api.clone();
        async move {
            let nodes = api.expect(Method::GET, "/nodes", None, 200).await;
            let dp0 = nodes["data"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| n["node_id"] == "dp-0")
                .cloned()?;
            (dp0["connected"] == true && dp0["connected_at"] != Value::Null).then_some(())
        }
    })
    .await;
    // Generous: a heartbeat-based expiry of up to a minute would pass.
    eventually_within(
        "dp-1 is shown disconnected",
        Duration::from_secs(60),
        || {
            let api = api.clone();
            async move {
                let nodes = api.expect(Method::GET, "/nodes", None, 200).await;
                (connected(&nodes, "dp-1") == Some(false)).then_some(())
            }
        },
    )
    .await;
}
