//! What people see of the fake Slack: messages as text, and the payloads Slack sends when
//! someone presses a button or picks from a menu on them.

use serde_json::{Value, json};

use super::{FakeSlack, Posted};

impl FakeSlack {
    /// What people could read, as text: each top-level message with its blocks, then its
    /// thread's replies and files, and the private answers. Replies and answers are in a
    /// stable order (by their text), not arrival order, which depends on which job ran first.
    pub fn transcript(&self) -> String {
        let mut out = vec![];
        let messages = self.messages();
        for top in messages.iter().filter(|m| m.thread_ts.is_none()) {
            out.push(format!("#{}", top.channel));
            out.push(render_message(top, ""));
            let mut replies: Vec<String> = messages
                .iter()
                .filter(|m| m.thread_ts.as_deref() == Some(&top.ts))
                .map(|m| render_message(m, "    "))
                .collect();
            replies.extend(
                self.files()
                    .iter()
                    .filter(|f| f.thread_ts.as_deref() == Some(&top.ts))
                    .map(|f| {
                        let comment = f.comment.clone().unwrap_or_default();
                        format!("    file {}: {comment}", f.filename)
                    }),
            );
            replies.sort();
            out.extend(replies);
        }
        let mut answers: Vec<String> = self
            .responses()
            .iter()
            .map(|r| format!("privately: {}", r["text"].as_str().unwrap_or_default()))
            .collect();
        answers.sort();
        out.extend(answers);
        out.join("\n")
    }

    /// The `block_actions` payload Slack sends when `user` presses the button `action_id`
    /// on `message`: the button's value is taken from the rendered blocks, as Slack does.
    /// None when the message has no such element.
    pub fn click_payload(&self, user: &str, message: &Posted, action_id: &str) -> Option<Value> {
        let button = element(message, action_id)?;
        Some(json!({
            "type": "block_actions",
            "user": {"id": user, "username": "someone", "team_id": "T0TEAM0001"},
            "api_app_id": "A0KEYLEAK",
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": false
            },
            "trigger_id": "1.2.3",
            "team": {"id": "T0TEAM0001", "domain": "example"},
            "channel": {"id": message.channel, "name": "keyleak"},
            "message": {
                "type": "message",
                "ts": message.ts,
                "thread_ts": message.thread_ts,
                "text": message.text,
                "blocks": message.blocks
            },
            "response_url": self.url.replace("/api", &format!("/respond/{user}")),
            "actions": [{
                "action_id": action_id,
                "block_id": "b1",
                "type": "button",
                "value": button["value"],
                "text": button["text"],
                "action_ts": "1763850000.000001"
            }]
        }))
    }

    /// A choice in a menu (`static_select`) on a posted message, as Slack sends it: the
    /// chosen option, whose value ends with `value_suffix`, in place of a button's value.
    pub fn choose_payload(
        &self,
        user: &str,
        message: &Posted,
        action_id: &str,
        value_suffix: &str,
    ) -> Option<Value> {
        let mut payload = self.click_payload(user, message, action_id)?;
        let menu = element(message, action_id)?;
        if menu["type"] != "static_select" {
            return None;
        }
        let option = menu["options"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| {
                o["value"]
                    .as_str()
                    .is_some_and(|v| v.ends_with(value_suffix))
            })
            .cloned()?;
        payload["actions"] = json!([{
            "type": "static_select",
            "action_id": action_id,
            "block_id": "b1",
            "selected_option": option,
            "placeholder": menu["placeholder"],
            "action_ts": "1763850000.000002"
        }]);
        Some(payload)
    }
}

/// A message's blocks as the text a person reads, each line indented by `indent`.
fn render_message(m: &Posted, indent: &str) -> String {
    let mut lines = vec![];
    for b in m.blocks.as_array().into_iter().flatten() {
        match b["type"].as_str().unwrap_or_default() {
            "section" | "header" => {
                lines.push(b["text"]["text"].as_str().unwrap_or_default().to_string())
            }
            "context" => lines.push(
                b["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(" · "),
            ),
            "actions" => lines.push(
                b["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| format!("[{}]", e["text"]["text"].as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            "divider" => lines.push("---".into()),
            other => lines.push(format!("({other})")),
        }
    }
    if lines.is_empty() {
        lines.push(m.text.clone());
    }
    lines
        .join("\n")
        .lines()
        .map(|l| format!("{indent}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The interactive element `action_id` in a posted message's actions blocks.
fn element(message: &Posted, action_id: &str) -> Option<Value> {
    message
        .blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_id"] == action_id)
}
