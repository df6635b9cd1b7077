package albs3

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Notification is what one SQS message tells the Reader: the objects
// created (ObjectCreated:* events; other events are left out), or that it
// is the s3:TestEvent S3 sends when a notification is configured.
type Notification struct {
	// Test is true for the s3:TestEvent message, which names no object.
	Test bool
	// Objects are the objects created, in the message's order.
	Objects []ObjectEvent
}

// ObjectEvent is one ObjectCreated record of an S3 event notification.
type ObjectEvent struct {
	// EventName is e.g. "ObjectCreated:Put".
	EventName string
	Bucket    string
	// Key is the object's key, URL-decoded (the notification carries it
	// form-encoded: a space as '+').
	Key  string
	Size int64
	ETag string
}

// eventJSON is the S3 event message structure, as documented in
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
// (fields the Reader does not use are left out).
type eventJSON struct {
	Records []struct {
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
		S3          struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key  string `json:"key"`
				Size int64  `json:"size"`
				ETag string `json:"eTag"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
	// The test message.
	Service string `json:"Service"`
	Event   string `json:"Event"`
	// An S3 notification delivered through SNS to SQS: the S3 event is
	// the string Message of the SNS envelope (raw message delivery off).
	Type    string `json:"Type"`
	Message string `json:"Message"`
}

// ErrNotS3Event is wrapped by DecodeNotification's error for a message
// that is JSON but neither an S3 event nor the test event.
var ErrNotS3Event = errors.New("not an S3 event notification")

// DecodeNotification decodes the body of an SQS message that carries an
// S3 event notification: the S3 event JSON itself, or wrapped in an SNS
// notification envelope. It keeps the ObjectCreated:* records.
func DecodeNotification(body []byte) (Notification, error) {
	return decode(body, 0)
}

func decode(body []byte, depth int) (Notification, error) {
	var ev eventJSON
	if err := json.Unmarshal(body, &ev); err != nil {
		return Notification{}, fmt.Errorf("albs3: notification: %w", err)
	}
	switch {
	case ev.Event == "s3:TestEvent":
		return Notification{Test: true}, nil
	case ev.Type == "Notification" && ev.Message != "" && depth == 0:
		return decode([]byte(ev.Message), depth+1)
	case ev.Records == nil:
		return Notification{}, fmt.Errorf("albs3: notification: %w (no Records)", ErrNotS3Event)
	}
	var n Notification
	for i, rec := range ev.Records {
		if rec.EventSource != "aws:s3" {
			return Notification{}, fmt.Errorf("albs3: notification: record %d: eventSource %q: %w", i, rec.EventSource, ErrNotS3Event)
		}
		if !strings.HasPrefix(rec.EventName, "ObjectCreated:") {
			continue
		}
		key, err := url.QueryUnescape(rec.S3.Object.Key)
		if err != nil {
			return Notification{}, fmt.Errorf("albs3: notification: record %d: key %q: %w", i, rec.S3.Object.Key, err)
		}
		if rec.S3.Bucket.Name == "" || key == "" {
			return Notification{}, fmt.Errorf("albs3: notification: record %d: no bucket or key", i)
		}
		n.Objects = append(n.Objects, ObjectEvent{EventName: rec.EventName, Bucket: rec.S3.Bucket.Name,
			Key: key, Size: rec.S3.Object.Size, ETag: rec.S3.Object.ETag})
	}
	return n, nil
}
