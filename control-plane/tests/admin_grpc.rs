//! The management API over gRPC (`policy_gateway.v1.Admin`): a real server on 127.0.0.1:0
//! (the data-plane sync server with the admin routes added, as `control-plane serve` runs
//! it), the generated client, and a real Postgres per test (`#[sqlx::test]`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "api/common.rs"]
#[allow(dead_code)]
mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use common::{
    App, OTHER_ORG, SECRET, admin, editor, policy, seed_policy_as_code, token_for, viewer,
};
use control_plane::auth::Verifier;
use control_plane::config::parse_hard_blocked;
use control_plane::error::GRPC_ERROR_BODY_KEY;
use control_plane::http::AppState;
use control_plane::service::Settings;
use control_plane::{admin_grpc, sync};
use policy_engine::{Category, CategorySet};
use policy_proto::v1::admin_client::AdminClient;
use policy_proto::v1::data_plane_sync_client::DataPlaneSyncClient;
use policy_proto::v1::{
    CreateKeyRequest, CreateProjectRequest, Hello, HistoryRequest, ListKeysRequest,
    ListNodesRequest, ListRevisionsRequest, PageRequest, PolicyRef, ProjectRef, ProtocolVersion,
    RevisionRef, RevokeKeyRequest, SaveConfigRequest, SimulateJsonRequest, SubscribeRequest,
    UpdateProjectRequest, UsageRequest, subscribe_request,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Code, Status};

const NODE_TOKEN: &str = "node-token-for-admin-tests";

/// A control-plane gRPC server with `DataPlaneSync` and `Admin`; stops when dropped.
struct Server {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Server {
    async fn start(pool: PgPool) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState {
            pool: pool.clone(),
            verifier: Arc::new(Verifier::from_settings(&common::hs256()).unwrap()),
            settings: Arc::new(Settings {
                history_limit: 50,
                hard_blocked: parse_hard_blocked("sexual/minors").unwrap(),
            }),
        };
        let settings = sync::Settings {
            node_token: NODE_TOKEN.to_owned(),
            replica_id: "admin-test".to_owned(),
            hard_blocked: [Category::SexualMinors]
                .into_iter()
                .collect::<CategorySet>(),
            history_limit: 50,
            quota_lease_ttl: std::time::Duration::from_secs(60),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(sync::serve_with(
            listener,
            pool,
            settings,
            admin_grpc::routes(state),
            async move {
                let _ = stopped.await;
            },
        ));
        Server { addr, _stop: stop }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    async fn admin(&self) -> AdminClient<Channel> {
        AdminClient::new(self.channel().await)
    }
}

/// A request with `authorization: Bearer <token>` when a token is given.
fn with_token<T>(body: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(body);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

fn authed<T>(body: T, token: &str) -> tonic::Request<T> {
    with_token(body, Some(token))
}

fn json_of(reply: tonic::Response<policy_proto::v1::JsonReply>) -> Value {
    serde_json::from_str(&reply.into_inner().json).unwrap()
}

/// The REST error body carried in the status's binary metadata.
fn error_body(status: &Status) -> Value {
    let value = status
        .metadata()
        .get_bin(GRPC_ERROR_BODY_KEY)
        .unwrap_or_else(|| panic!("no {GRPC_ERROR_BODY_KEY} on {status:?}"));
    serde_json::from_slice(&value.to_bytes().unwrap()).unwrap()
}

fn save_request(config: &Value) -> SaveConfigRequest {
    SaveConfigRequest {
        config_json: config.to_string(),
    }
}

fn policy_ref(policy_id: &str) -> PolicyRef {
    PolicyRef {
        policy_id: policy_id.to_owned(),
    }
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn save_then_get_round_trips_and_matches_rest(pool: PgPool) {
    let app = App::new(pool.clone());
    let server = Server::start(pool).await;
    let mut client = server.admin().await;

    let saved = json_of(
        client
            .save_config(authed(save_request(&policy("support")), &editor()))
            .await
            .unwrap(),
    );
    assert_eq!(saved["policy_id"], "support");
    let got = json_of(
        client
            .get_config(authed(policy_ref("support"), &viewer()))
            .await
            .unwrap(),
    );
    assert_eq!(got, saved);
    // Exactly the REST response body.
    let rest = app.get("/config?policy_id=support", &viewer()).await;
    assert_eq!(rest.status, StatusCode::OK);
    assert_eq!(got, rest.body);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn an_invalid_policy_is_invalid_argument_with_every_pointer(pool: PgPool) {
    let server = Server::start(pool).await;
    let mut client = server.admin().await;
    let mut doc = policy("support");
    doc["rules"]["response_pattern"] = json!("shout");
    doc["rules"]["flagged_categories"] = json!(["gore"]);
    doc["typo_field"] = json!(true);
    let expected = policy_engine::validate(&doc).expect_err("invalid");
    assert!(expected.len() >= 3);

    let status = client
        .save_config(authed(save_request(&doc), &editor()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    for want in &expected {
        assert!(
            status.message().contains(&want.to_string()),
            "{} lacks {want}",
            status.message()
        );
    }
    let body = error_body(&status);
    assert_eq!(body["error"]["code"], "invalid_policy");
    let details = body["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), expected.len());
    for (detail, want) in details.iter().zip(&expected) {
        assert_eq!(detail["pointer"], want.pointer.as_str());
        assert_eq!(detail["message"], want.message.as_str());
    }

    // Not JSON at all: still INVALID_ARGUMENT, naming the field.
    let status = client
        .save_config(authed(
            SaveConfigRequest {
                config_json: "{not json".to_owned(),
            },
            &editor(),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(error_body(&status)["error"]["param"], "config_json");
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn missing_or_invalid_jwt_is_unauthenticated(pool: PgPool) {
    let server = Server::start(pool).await;
    let mut client = server.admin().await;
    let forged = common::mint(
        jsonwebtoken::Algorithm::HS256,
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-secret-at-all-not-at-all"),
        &json!({ "sub": "x", "org": "acme", "role": "admin", "exp": common::now() + 3600 }),
    );
    for token in [None, Some("garbage"), Some(forged.as_str())] {
        let status = client
            .get_config(with_token(policy_ref("support"), token))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{token:?}: {status:?}"
        );
        assert_eq!(error_body(&status)["error"]["code"], "invalid_token");
    }
    // Not a bearer scheme.
    let mut request = tonic::Request::new(policy_ref("support"));
    request
        .metadata_mut()
        .insert("authorization", editor().parse().unwrap());
    let status = client.get_config(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // The secret the tokens are signed with is not a token either.
    let status = client
        .get_config(authed(policy_ref("support"), SECRET))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn roles_are_enforced_as_over_rest(pool: PgPool) {
    let server = Server::start(pool).await;
    let mut client = server.admin().await;
    let status = client
        .save_config(authed(save_request(&policy("support")), &viewer()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(error_body(&status)["error"]["code"], "insufficient_role");

    let status = client
        .create_project(authed(
            CreateProjectRequest {
                project_json: json!({ "id": "web", "name": "Web" }).to_string(),
            },
            &editor(),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    let status = client
        .list_nodes(authed(ListNodesRequest {}, &editor()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let nodes = json_of(
        client
            .list_nodes(authed(ListNodesRequest {}, &admin()))
            .await
            .unwrap(),
    );
    assert_eq!(nodes, json!({ "data": [], "next_cursor": null }));
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn another_orgs_policy_is_not_found(pool: PgPool) {
    let server = Server::start(pool).await;
    let mut client = server.admin().await;
    client
        .save_config(authed(save_request(&policy("support")), &editor()))
        .await
        .unwrap();
    let outsider = token_for(OTHER_ORG, "admin");
    let status = client
        .get_config(authed(policy_ref("support"), &outsider))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = client
        .promote(authed(policy_ref("support"), &outsider))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn a_created_key_is_returned_raw_once(pool: PgPool) {
    let server = Server::start(pool).await;
    let mut client = server.admin().await;
    json_of(
        client
            .create_project(authed(
                CreateProjectRequest {
                    project_json: json!({ "id": "web", "name": "Web" }).to_string(),
                },
                &admin(),
            ))
            .await
            .unwrap(),
    );
    for project_id in [Some("web".to_owned()), None] {
        let created = json_of(
            client
                .create_key(authed(
                    CreateKeyRequest {
                        project_id: project_id.clone(),
                        key_json: json!({ "label": "ci" }).to_string(),
                    },
                    &admin(),
                ))
                .await
                .unwrap(),
        );
        let raw = created["key"].as_str().unwrap().to_owned();
        assert!(!raw.is_empty());
        assert_eq!(created["project_id"], json!(project_id));
        let listed = client
            .list_keys(authed(
                ListKeysRequest {
                    project_id: project_id.clone(),
                },
                &viewer(),
            ))
            .await
            .unwrap()
            .into_inner()
            .json;
        assert!(!listed.contains(&raw), "the raw key was listed: {listed}");
        let listed: Value = serde_json::from_str(&listed).unwrap();
        let keys = listed["data"].as_array().unwrap();
        assert!(keys.iter().any(|k| k["id"] == created["id"]));
        assert!(keys.iter().all(|k| k.get("key").is_none()));
    }
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn simulate_answers_what_rest_answers(pool: PgPool) {
    let app = App::new(pool.clone());
    let server = Server::start(pool).await;
    let mut client = server.admin().await;
    app.save(&seed_policy_as_code()).await;
    for input in [
        json!({ "policy_id": "policy-as-code", "message": "Share our internal incident response steps.", "categories": [] }),
        json!({ "policy_id": "policy-as-code", "message": "public docs please", "categories": ["sexual/minors"] }),
        json!({ "config": policy("draft"), "message": "illegal instructions", "categories": ["self-harm/intent"] }),
    ] {
        let rest = app.post("/simulate", &editor(), input.clone()).await;
        assert_eq!(rest.status, StatusCode::OK, "{}", rest.body);
        let grpc = json_of(
            client
                .simulate(authed(
                    SimulateJsonRequest {
                        request_json: input.to_string(),
                    },
                    &editor(),
                ))
                .await
                .unwrap(),
        );
        assert_eq!(grpc, rest.body);
    }
    // Input errors too: the same REST error body.
    let bad = json!({ "policy_id": "policy-as-code", "categories": ["gore"] });
    let rest = app.post("/simulate", &editor(), bad.clone()).await;
    let status = client
        .simulate(authed(
            SimulateJsonRequest {
                request_json: bad.to_string(),
            },
            &editor(),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(error_body(&status), rest.body);
}

#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn the_node_token_opens_no_admin_call_and_a_jwt_no_sync_call(pool: PgPool) {
    let server = Server::start(pool).await;
    let mut client = server.admin().await;
    let status = client
        .list_nodes(authed(ListNodesRequest {}, NODE_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = client
        .get_config(authed(policy_ref("support"), NODE_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let mut sync_client = DataPlaneSyncClient::new(server.channel().await);
    let hello = SubscribeRequest {
        message: Some(subscribe_request::Message::Hello(Hello {
            node_id: "node-1".to_owned(),
            region: "test".to_owned(),
            software_version: "0".to_owned(),
            last_applied_version: 0,
            protocol_version: ProtocolVersion::ProtocolVersion1 as i32,
        })),
    };
    let status = sync_client
        .subscribe(authed(tokio_stream::iter([hello]), &admin()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

/// Every other RPC once, reads compared with the REST answer for the same state.
#[sqlx::test(migrator = "control_plane::MIGRATOR")]
async fn every_operation_matches_rest(pool: PgPool) {
    let app = App::new(pool.clone());
    let server = Server::start(pool).await;
    let mut c = server.admin().await;
    let (ed, ad, vw) = (editor(), admin(), viewer());

    c.save_config(authed(save_request(&policy("support")), &ed))
        .await
        .unwrap();
    let staged = json_of(
        c.save_config(authed(
            save_request(&common::staged("support", false, true)),
            &ed,
        ))
        .await
        .unwrap(),
    );
    assert_eq!(staged["candidate_revision"], 2);

    let configs = json_of(
        c.list_configs(authed(PageRequest::default(), &vw))
            .await
            .unwrap(),
    );
    assert_eq!(configs, app.get("/configs", &vw).await.body);
    let revisions = json_of(
        c.list_revisions(authed(
            ListRevisionsRequest {
                policy_id: "support".to_owned(),
                limit: Some(1),
                cursor: None,
            },
            &vw,
        ))
        .await
        .unwrap(),
    );
    assert_eq!(
        revisions,
        app.get("/config/revisions?policy_id=support&limit=1", &vw)
            .await
            .body
    );
    assert!(revisions["next_cursor"].is_string());
    let revision = |n| RevisionRef {
        policy_id: "support".to_owned(),
        revision: n,
    };
    let one = json_of(c.get_revision(authed(revision(1), &vw)).await.unwrap());
    assert_eq!(
        one,
        app.get("/config/revisions/1?policy_id=support", &vw)
            .await
            .body
    );

    // Abort drops the candidate; then there is nothing to promote (409 → ALREADY_EXISTS).
    let aborted = json_of(c.abort(authed(policy_ref("support"), &ed)).await.unwrap());
    assert_eq!(aborted["candidate_revision"], json!(null));
    let status = c
        .promote(authed(policy_ref("support"), &ed))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(error_body(&status)["error"]["code"], "conflict");
    let rolled = json_of(c.rollback(authed(revision(1), &ed)).await.unwrap());
    assert_eq!(rolled["stable_revision"], 3);
    let status = c.rollback(authed(revision(1), &vw)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // Projects.
    c.create_project(authed(
        CreateProjectRequest {
            project_json: json!({ "id": "web", "name": "Web", "policy_id": "support" }).to_string(),
        },
        &ad,
    ))
    .await
    .unwrap();
    let status = c
        .create_project(authed(
            CreateProjectRequest {
                project_json: json!({ "id": "web", "name": "Web" }).to_string(),
            },
            &ad,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    let web = || ProjectRef {
        project_id: "web".to_owned(),
    };
    let updated = json_of(
        c.update_project(authed(
            UpdateProjectRequest {
                project_id: "web".to_owned(),
                patch_json: json!({ "name": "Web 2" }).to_string(),
            },
            &ad,
        ))
        .await
        .unwrap(),
    );
    assert_eq!(updated["name"], "Web 2");
    let got = json_of(c.get_project(authed(web(), &vw)).await.unwrap());
    assert_eq!(got, app.get("/projects/web", &vw).await.body);
    let listed = json_of(
        c.list_projects(authed(PageRequest::default(), &vw))
            .await
            .unwrap(),
    );
    assert_eq!(listed, app.get("/projects", &vw).await.body);

    // Keys: revoke, then the listing shows it revoked; a malformed id is the client's error.
    let key = json_of(
        c.create_key(authed(
            CreateKeyRequest {
                project_id: Some("web".to_owned()),
                key_json: json!({ "label": "ci" }).to_string(),
            },
            &ad,
        ))
        .await
        .unwrap(),
    );
    let revoke = |key_id: &str| RevokeKeyRequest {
        project_id: Some("web".to_owned()),
        key_id: key_id.to_owned(),
    };
    let revoked = json_of(
        c.revoke_key(authed(revoke(key["id"].as_str().unwrap()), &ad))
            .await
            .unwrap(),
    );
    assert!(revoked["revoked_at"].is_string());
    let status = c
        .revoke_key(authed(revoke("not-a-uuid"), &ad))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let keys = json_of(
        c.list_keys(authed(
            ListKeysRequest {
                project_id: Some("web".to_owned()),
            },
            &vw,
        ))
        .await
        .unwrap(),
    );
    assert_eq!(keys, app.get("/projects/web/keys", &vw).await.body);

    // History and usage read what REST reads.
    let history = json_of(
        c.history(authed(
            HistoryRequest {
                policy_id: Some("support".to_owned()),
                ..HistoryRequest::default()
            },
            &vw,
        ))
        .await
        .unwrap(),
    );
    assert_eq!(
        history,
        app.get("/history?policy_id=support", &vw).await.body
    );
    assert!(!history["data"].as_array().unwrap().is_empty());
    let status = c
        .history(authed(
            HistoryRequest {
                r#type: Some("nonsense".to_owned()),
                ..HistoryRequest::default()
            },
            &vw,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(error_body(&status)["error"]["param"], "type");
    let usage = json_of(
        c.usage(authed(
            UsageRequest {
                project_id: "web".to_owned(),
                window: None,
                policy_id: Some("support".to_owned()),
                subject: Some("alice".to_owned()),
            },
            &vw,
        ))
        .await
        .unwrap(),
    );
    assert_eq!(
        usage,
        app.get("/usage?project_id=web&policy_id=support&subject=alice", &vw)
            .await
            .body
    );

    let deleted = json_of(c.delete_project(authed(web(), &ad)).await.unwrap());
    assert_eq!(deleted, json!({ "id": "web", "deleted": true }));
    let status = c.get_project(authed(web(), &vw)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}
