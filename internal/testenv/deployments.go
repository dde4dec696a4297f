package testenv

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// MarkDeploymentsReady plays the Deployment controller and the kubelet for
// the Deployments of namespace on a ControlPlaneOnly cluster: every
// Deployment whose status lags its spec gets a status that reports all of
// its replicas updated, ready and available at its generation, as if its
// pods had started at once. It is for benchmarks that create thousands of
// Deployments, where the real controllers and kwok would spend most of the
// machine on ReplicaSets and Pods nobody looks at.
//
// It runs until stop is called (at least once), which waits for it to finish; errors other
// than conflicts (retried) are reported to errs, which may be nil.
func MarkDeploymentsReady(cfg *rest.Config, namespace string, workers int, errs func(error)) (stop func(), err error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("deployment status: client: %w", err)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(namespace))
	inf := factory.Apps().V1().Deployments()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return nil, fmt.Errorf("deployment status: informer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())

	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, shutdown := queue.Get()
				if shutdown {
					return
				}
				err := markReady(ctx, cs, inf.Lister().Deployments(namespace), key)
				switch {
				case err == nil:
					queue.Forget(key)
				case apierrors.IsConflict(err):
					queue.AddRateLimited(key)
				case ctx.Err() == nil && errs != nil:
					errs(err)
				}
				queue.Done(key)
			}
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			queue.ShutDown()
			wg.Wait()
			factory.Shutdown()
		})
	}, nil
}

type deploymentLister interface {
	Get(name string) (*appsv1.Deployment, error)
}

func markReady(ctx context.Context, cs kubernetes.Interface, lister deploymentLister, key string) error {
	_, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	cur, err := lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	want := readyStatus(cur)
	if cur.Status.ObservedGeneration == want.ObservedGeneration && cur.Status.Replicas == want.Replicas &&
		cur.Status.UpdatedReplicas == want.UpdatedReplicas && cur.Status.ReadyReplicas == want.ReadyReplicas &&
		cur.Status.AvailableReplicas == want.AvailableReplicas {
		return nil
	}
	d := cur.DeepCopy()
	d.Status = want
	if _, err := cs.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("deployment status: update %s: %w", key, err)
	}
	return nil
}

// readyStatus is the status of d once all its replicas run its spec.
func readyStatus(d *appsv1.Deployment) appsv1.DeploymentStatus {
	n := int32(1)
	if d.Spec.Replicas != nil {
		n = *d.Spec.Replicas
	}
	return appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           n,
		UpdatedReplicas:    n,
		ReadyReplicas:      n,
		AvailableReplicas:  n,
	}
}
