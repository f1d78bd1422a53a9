package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/objects"
)

func (r *NodeReconciler) nodeRequest() []reconcile.Request {
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: r.NodeName}}}
}

// SetupWithManager registers the reconciler. Every watched event maps to
// the one work item, this node.
func (r *NodeReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.lastFinished.Store(time.Now().UnixNano())
	toNode := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request { return r.nodeRequest() })
	ownNode := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if o.GetName() != r.NodeName {
			return nil
		}
		return r.nodeRequest()
	})
	netnsChanges, err := r.watchRouterNetns(mgr)
	if err != nil {
		return err
	}
	frrChanges, err := r.watchRouterFRR(mgr)
	if err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("router-node-"+r.NodeName).
		Watches(&corev1.Node{}, ownNode)
	for _, k := range objects.Kinds() {
		b = b.Watches(k.New(), toNode)
	}
	return b.
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.secretToNode)).
		WatchesRawSource(source.Channel(netnsChanges, handler.TypedFuncs[hostnet.IdentityEvent, reconcile.Request]{
			GenericFunc: func(_ context.Context, _ event.TypedGenericEvent[hostnet.IdentityEvent], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				q.Add(r.nodeRequest()[0])
			},
		})).
		WatchesRawSource(source.Channel(frrChanges, handler.TypedFuncs[string, reconcile.Request]{
			GenericFunc: func(_ context.Context, _ event.TypedGenericEvent[string], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				q.Add(r.nodeRequest()[0])
			},
		})).
		WithOptions(controller.Options{ReconciliationTimeout: r.pushTimeout() + reconcileMargin}).
		Complete(r)
}

// watchRouterNetns adds to mgr a hostnet.IdentityWatch of the router
// namespace and returns the channel of its changes (deleted, created,
// replaced). The reconcile then compares the identity with the one it
// applied in; this only wakes it. A failed read is logged and counted,
// and wakes nothing: it is no sign of a replacement. Without RouterNetns
// the channel stays silent.
func (r *NodeReconciler) watchRouterNetns(mgr ctrl.Manager) (<-chan event.TypedGenericEvent[hostnet.IdentityEvent], error) {
	ch := make(chan event.TypedGenericEvent[hostnet.IdentityEvent], 1)
	if r.RouterNetns == "" {
		return ch, nil
	}
	watch := hostnet.IdentityWatch{Netns: r.RouterNetns, Poll: r.routerPoll()}
	err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		logger := log.FromContext(ctx).WithValues("node", r.NodeName, "netns", r.RouterNetns)
		watch.Run(ctx, func(e hostnet.IdentityEvent) {
			if e.Err != nil {
				routerNetnsReadErrors.Inc()
				logger.Error(e.Err, "reading the router namespace's identity; it counts as unchanged")
				return
			}
			logger.Info("router namespace changed", "identity", uint64(e.Identity))
			select {
			case ch <- event.TypedGenericEvent[hostnet.IdentityEvent]{Object: e}:
			default: // a wake is already pending
			}
		})
		return nil
	}))
	if err != nil {
		return nil, fmt.Errorf("adding the watch of router namespace %s: %w", r.RouterNetns, err)
	}
	return ch, nil
}

func (r *NodeReconciler) routerPoll() time.Duration {
	if r.RouterPoll > 0 {
		return r.RouterPoll
	}
	return DefaultRouterPoll
}

// watchRouterFRR adds to mgr a poll, every RouterPoll, of which config the
// router's FRR runs (when FRR is a RunningConfigReader) and returns the
// channel of its changes: a restarted router pod's reloader answers
// nothing known, or the reloader stops or starts answering. The reconcile
// then compares the answer with the config it pushed; this only wakes it,
// within a poll instead of at the next BGP refresh or resync. Without a
// reader the channel stays silent.
func (r *NodeReconciler) watchRouterFRR(mgr ctrl.Manager) (<-chan event.TypedGenericEvent[string], error) {
	ch := make(chan event.TypedGenericEvent[string], 1)
	reader, ok := r.FRR.(RunningConfigReader)
	if !ok {
		return ch, nil
	}
	err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		logger := log.FromContext(ctx).WithValues("node", r.NodeName)
		ticker := time.NewTicker(r.routerPoll())
		defer ticker.Stop()
		last := ""
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-ticker.C:
			}
			askCtx, cancel := context.WithTimeout(ctx, routerAnswerTimeout)
			hash, err := reader.RunningConfigHash(askCtx)
			cancel()
			// Wake on what the answer means, not on each error's text.
			answer := hash
			switch {
			case errors.Is(err, ErrRunningConfigUnsupported):
				answer = "unsupported"
			case err != nil:
				answer = "no answer"
			}
			if answer == last {
				continue
			}
			if err != nil && last != "no answer" {
				logger.Info("the router's reloader does not answer which config FRR runs", "error", err.Error())
			}
			last = answer
			select {
			case ch <- event.TypedGenericEvent[string]{Object: answer}:
			default: // a wake is already pending
			}
		}
	}))
	if err != nil {
		return nil, fmt.Errorf("adding the poll of the router's running config: %w", err)
	}
	return ch, nil
}

// secretToNode reacts only to Secrets a neighbour's passwordSecret names.
func (r *NodeReconciler) secretToNode(ctx context.Context, o client.Object) []reconcile.Request {
	var underlays v1alpha1.UnderlayList
	if err := r.Client.List(ctx, &underlays, client.InNamespace(o.GetNamespace())); err != nil {
		return r.nodeRequest()
	}
	for _, u := range underlays.Items {
		for _, n := range u.Spec.Neighbors {
			if n.PasswordSecret == o.GetName() {
				return r.nodeRequest()
			}
		}
	}
	return nil
}
