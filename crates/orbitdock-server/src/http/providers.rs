//! Account and model-provider routes: who the agent is logged in as (log in, log out), and the
//! providers a new session can run on (the OpenAI account, the local model) with their live
//! state. Thin: the agent calls go through the connector, the local model through
//! [`crate::local_model`].

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::response::{IntoResponse, Response};
use orbitdock_protocol::{
    AccountStatus, LocalModelRequest, LoginRequest, ProviderState, ProviderStatus,
    ProvidersResponse, SessionStatus,
};

use super::AppState;
use crate::connector::codex::OPENAI_PROVIDER;
use crate::error::{Error, Result};
use crate::session::lifecycle::failure_sentence;

fn body<T>(b: std::result::Result<Json<T>, JsonRejection>) -> Result<T> {
    b.map(|Json(v)| v)
        .map_err(|e| Error::BadRequest(format!("invalid JSON body: {}", e.body_text())))
}

/// `GET /api/account`: read from the agent each time (a login made in a terminal shows up).
/// An agent that cannot be asked answers with `error` set rather than failing the request, so a
/// newcomer's UI can still say what is wrong.
pub(super) async fn account(State(s): State<AppState>) -> Json<AccountStatus> {
    Json(read_account(&s).await)
}

async fn read_account(s: &AppState) -> AccountStatus {
    match s.registry.connector().read_account().await {
        Ok(a) => a,
        Err(e) => AccountStatus {
            error: Some(failure_sentence(&e)),
            ..Default::default()
        },
    }
}

/// `POST /api/account/login`.
pub(super) async fn login(
    State(s): State<AppState>,
    b: std::result::Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response> {
    let req = body(b)?;
    Ok(Json(s.registry.connector().login(&req).await?).into_response())
}

/// `POST /api/account/logout`.
pub(super) async fn logout(State(s): State<AppState>) -> Result<Response> {
    Ok(Json(s.registry.connector().logout().await?).into_response())
}

/// `GET /api/providers`: the account first, then the local model when the server runs one.
pub(super) async fn providers(State(s): State<AppState>) -> Json<ProvidersResponse> {
    let account = read_account(&s).await;
    let (_, sessions) = s.registry.list();
    let live = |provider: Option<&str>| {
        sessions
            .iter()
            .filter(|x| {
                x.model_provider.as_deref() == provider
                    && !matches!(x.status, SessionStatus::Ended | SessionStatus::Failed)
            })
            .count() as u64
    };
    let (state, detail) = if let Some(e) = &account.error {
        (ProviderState::Down, Some(e.clone()))
    } else if account.logged_in {
        let who = match (&account.kind, &account.email) {
            (_, Some(email)) => format!("Logged in as {email}"),
            (Some(k), None) if k == "api_key" => "Logged in with an API key".to_owned(),
            _ => "Logged in".to_owned(),
        };
        (ProviderState::Up, Some(who))
    } else {
        (
            ProviderState::LoggedOut,
            Some("Nobody is logged in to OpenAI".to_owned()),
        )
    };
    let mut providers = vec![ProviderStatus {
        id: OPENAI_PROVIDER.into(),
        name: "OpenAI account".into(),
        state,
        detail,
        model: None,
        context_size: None,
        tokens_per_second: None,
        busy: None,
        sessions: live(None) + live(Some(OPENAI_PROVIDER)),
    }];
    if let Some(local) = s.registry.local_model() {
        let mut st = local.status();
        st.sessions = live(Some(local.provider_id()));
        providers.push(st);
    }
    Json(ProvidersResponse { providers })
}

/// `POST /api/providers/local`: serve this GGUF as the local model.
pub(super) async fn set_local_model(
    State(s): State<AppState>,
    b: std::result::Result<Json<LocalModelRequest>, JsonRejection>,
) -> Result<Response> {
    let req = body(b)?;
    let local = s
        .registry
        .local_model()
        .ok_or_else(|| Error::Conflict("this server runs without a local model provider".into()))?;
    local.set_model_path(std::path::PathBuf::from(req.model_path.trim()))?;
    Ok(Json(local.status()).into_response())
}
