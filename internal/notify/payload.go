package notify

import (
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

// Event is what a "webhook" AlertProvider receives.
type Event struct {
	Name      string              `json:"name"`
	Namespace string              `json:"namespace"`
	Phase     v1beta1.CanaryPhase `json:"phase"`
	Type      rollout.EventType   `json:"type"`
	Reason    string              `json:"reason"`
	Message   string              `json:"message"`
	// Severity is info, warn or error.
	Severity  string    `json:"severity"`
	Timestamp time.Time `json:"timestamp"`
	// Cluster is the controller's cluster name, when it has one.
	Cluster string `json:"cluster,omitempty"`
}

// textMessage is the plain form Google Chat, Microsoft Teams and most chat
// webhooks accept.
type textMessage struct {
	Text string `json:"text"`
}

// slackPayload is Slack's incoming-webhook message, which Rocket.Chat and
// Discord's Slack-compatible endpoint accept too.
type slackPayload struct {
	Channel     string            `json:"channel,omitempty"`
	Username    string            `json:"username,omitempty"`
	Text        string            `json:"text,omitempty"`
	Attachments []slackAttachment `json:"attachments"`
}

type slackAttachment struct {
	Fallback   string       `json:"fallback"`
	Color      string       `json:"color"`
	AuthorName string       `json:"author_name"`
	Text       string       `json:"text"`
	MrkdwnIn   []string     `json:"mrkdwn_in"`
	Fields     []slackField `json:"fields,omitempty"`
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

func slackMessage(c *v1beta1.Canary, p *v1beta1.AlertProvider, e rollout.Event, sev Severity, subject, cluster string) slackPayload {
	color := map[Severity]string{Info: "good", Warn: "warning", Error: "danger"}[sev]
	target := c.Spec.TargetRef.Name
	if k := c.Spec.TargetRef.Kind; k != "" {
		target = k + "/" + target
	}
	fields := []slackField{{Title: "Target", Value: target, Short: true}}
	if e.Reason != "" {
		fields = append(fields, slackField{Title: "Reason", Value: e.Reason, Short: true})
	}
	if c.Status.Phase != "" {
		fields = append(fields, slackField{Title: "Phase", Value: string(c.Status.Phase), Short: true})
	}
	if cluster != "" {
		fields = append(fields, slackField{Title: "Cluster", Value: cluster, Short: true})
	}
	return slackPayload{
		Channel:  p.Spec.Channel,
		Username: p.Spec.Username,
		Attachments: []slackAttachment{{
			Fallback:   sevIcon(sev) + " " + subject + ": " + e.Message,
			Color:      color,
			AuthorName: subject,
			Text:       e.Message,
			MrkdwnIn:   []string{"text"},
			Fields:     fields,
		}},
	}
}

func sevIcon(s Severity) string {
	switch s {
	case Error:
		return "[error]"
	case Warn:
		return "[warn]"
	default:
		return "[info]"
	}
}
