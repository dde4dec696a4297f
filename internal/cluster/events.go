package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/internal/local"
)

// Events calls f with each Event of a Canary in ns (every namespace when
// empty), oldest first; with watch it then watches for new and updated
// ones until ctx ends.
func (c *Client) Events(ctx context.Context, ns string, watchToo bool, f func(local.Event) error) error {
	sel := fields.OneTermEqualSelector("involvedObject.kind", "Canary")
	var list corev1.EventList
	if err := c.cl.List(ctx, &list, client.InNamespace(ns), client.MatchingFieldsSelector{Selector: sel}); err != nil {
		return access(err, "list", "events", ns)
	}
	evs := make([]local.Event, 0, len(list.Items))
	for i := range list.Items {
		evs = append(evs, eventOf(&list.Items[i]))
	}
	slices.SortStableFunc(evs, func(a, b local.Event) int { return a.Time.Compare(b.Time) })
	for _, e := range evs {
		if err := f(e); err != nil {
			return err
		}
	}
	if !watchToo {
		return nil
	}
	w, err := c.cl.Watch(ctx, &corev1.EventList{}, &client.ListOptions{
		Namespace: ns, FieldSelector: sel,
		Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion},
	})
	if err != nil {
		return access(err, "watch", "events", ns)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case we, ok := <-w.ResultChan():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("watch events: the API server closed the watch")
			}
			switch we.Type {
			case watch.Added, watch.Modified:
				if ev, ok := we.Object.(*corev1.Event); ok {
					if err := f(eventOf(ev)); err != nil {
						return err
					}
				}
			case watch.Error:
				return fmt.Errorf("watch events: %v", we.Object)
			}
		}
	}
}

// eventOf is a Kubernetes Event as the CLI prints it.
func eventOf(e *corev1.Event) local.Event {
	t := e.LastTimestamp.Time
	for _, alt := range []time.Time{e.EventTime.Time, e.FirstTimestamp.Time, e.CreationTimestamp.Time} {
		if t.IsZero() {
			t = alt
		}
	}
	return local.Event{
		Time: t, Type: e.Type, Reason: e.Reason,
		Kind: e.InvolvedObject.Kind, Namespace: e.InvolvedObject.Namespace, Name: e.InvolvedObject.Name,
		Message: e.Message, Count: int(e.Count),
	}
}
