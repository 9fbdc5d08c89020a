use core::marker::PhantomData;

use crate::{
    Autodiff,
    checkpoint::{
        base::Checkpointer, retro_forward::RetroForward, state::BackwardStates,
        strategy::CheckpointStrategy,
    },
    grads::Gradients,
    graph::NodeId,
    ops::{Backward, Ops, OpsKind, unary},
    retro_unary,
};
use burn_backend::{
    Backend,
    ops::{ActivationOps, FloatTensorOps},
    tensor::FloatTensor,
};

impl<B: Backend, C: CheckpointStrategy> ActivationOps<Autodiff<B, C>> for Autodiff<B, C> {
    fn gelu(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Gelu;

        retro_unary!(RetroGelu, B::gelu);

        impl<B: Backend> Backward<B, 1> for Gelu {
            type State = NodeId;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let input = checkpointer.retrieve_node_output(ops.state);

                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::gelu_backward(input, grad)
                });
            }
        }

        match Gelu
            .prepare::<C>([tensor.node()])
            .memory_bound()
            .retro_forward(RetroGelu::<B>::new(tensor.node.id))
            .parents([&tensor])
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&tensor);
                prep.finish(state, B::gelu(tensor.primitive.clone()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::gelu(tensor.primitive)),
        }
    }

    fn relu(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Relu;

        retro_unary!(RetroRelu, B::relu);

        impl<B: Backend> Backward<B, 1> for Relu {
            type State = NodeId;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let state = checkpointer.retrieve_node_output(ops.state);
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::relu_backward(state, grad)
                });
            }
        }

        match Relu
            .prepare::<C>([tensor.node()])
            .memory_bound()
            .retro_forward(RetroRelu::<B>::new(tensor.node.id))
            .parents([&tensor])
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&tensor);
                prep.finish(state, B::relu(tensor.primitive))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::relu(tensor.primitive)),
        }
    }

    fn sigmoid(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Sigmoid;

        // mlagent patch: the backward uses the forward's output, kept as the state, instead of
        // computing the sigmoid of the checkpointed input again (vendor/README.md).
        impl<B: Backend> Backward<B, 1> for Sigmoid {
            type State = B::FloatTensorPrimitive;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let output = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::sigmoid_backward(output, grad)
                });
            }
        }

        match Sigmoid
            .prepare::<C>([tensor.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let output = B::sigmoid(tensor.primitive);
                prep.finish(output.clone(), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::sigmoid(tensor.primitive)),
        }
    }

    fn log_sigmoid(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct LogSigmoid;

        retro_unary!(RetroLogSigmoid, B::log_sigmoid);

        impl<B: Backend> Backward<B, 1> for LogSigmoid {
            type State = NodeId;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let input = checkpointer.retrieve_node_output(ops.state);

                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::log_sigmoid_backward(input, grad)
                });
            }
        }

        match LogSigmoid
            .prepare::<C>([tensor.node()])
            .memory_bound()
            .retro_forward(RetroLogSigmoid::<B>::new(tensor.node.id))
            .parents([&tensor])
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&tensor);
                prep.finish(state, B::log_sigmoid(tensor.primitive.clone()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::log_sigmoid(tensor.primitive)),
        }
    }

    // mlagent patch (vendor/README.md): on the flex backend, softmax and log-softmax over the
    // last axis are one node each, computed by `burn_flex::ops::composed_softmax` with the bits
    // of the five-node composition below (the trait's default) and of its gradient. Elsewhere,
    // or for another axis or layout, the composition itself.
    fn softmax(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        match fused_forward::<B, C>(&tensor, dim, false) {
            Some(out) => out,
            None => {
                let max = Self::float_max_dim(Self::float_detach(tensor.clone()), dim);
                let shifted = Self::float_sub(tensor, max);
                let exp = Self::float_exp(shifted);
                let sum = Self::float_sum_dim(exp.clone(), dim);
                Self::float_div(exp, sum)
            }
        }
    }

    fn log_softmax(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        match fused_forward::<B, C>(&tensor, dim, true) {
            Some(out) => out,
            None => {
                let max = Self::float_max_dim(Self::float_detach(tensor.clone()), dim);
                let shifted = Self::float_sub(tensor, max);
                let log_sum_exp =
                    Self::float_log(Self::float_sum_dim(Self::float_exp(shifted.clone()), dim));
                Self::float_sub(shifted, log_sum_exp)
            }
        }
    }
}

/// mlagent patch: `t` as the flex backend's tensor, where `B` is `Flex`.
fn as_flex<B: Backend>(t: &B::FloatTensorPrimitive) -> Option<&burn_flex::FlexTensor> {
    (t as &dyn core::any::Any).downcast_ref()
}

/// mlagent patch: an owned primitive moved between `B` and `Flex` (the same type wherever this
/// is called, which `as_flex` established).
fn cast<From: 'static, To: 'static>(t: From) -> To {
    *(alloc::boxed::Box::new(t) as alloc::boxed::Box<dyn core::any::Any>)
        .downcast::<To>()
        .expect("the backend was checked to be flex before the fused softmax ran")
}

/// mlagent patch: the kernels' saved tensors as the node's state (exp, row sums).
#[derive(Debug, Clone)]
struct SoftmaxState<T> {
    exp: T,
    sums: T,
    log: bool,
}

#[derive(Debug)]
struct FusedSoftmax;

impl<B: Backend> Backward<B, 1> for FusedSoftmax {
    type State = SoftmaxState<B::FloatTensorPrimitive>;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let state = ops.state;
        let saved = burn_flex::ops::composed_softmax::Saved {
            exp: cast(state.exp),
            sums: cast(state.sums),
        };
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            let grad: burn_flex::FlexTensor = cast(grad);
            let out = if state.log {
                burn_flex::ops::composed_softmax::log_softmax_backward(grad, &saved)
            } else {
                burn_flex::ops::composed_softmax::softmax_backward(grad, &saved)
            };
            cast(out)
        });
    }
}

/// mlagent patch: the fused node, or `None` where the composition must run (not flex, not the
/// last axis, a layout or dtype the kernels do not take).
fn fused_forward<B: Backend, C: CheckpointStrategy>(
    tensor: &FloatTensor<Autodiff<B, C>>,
    dim: usize,
    log: bool,
) -> Option<FloatTensor<Autodiff<B, C>>> {
    use burn_backend::TensorMetadata;
    if dim + 1 != tensor.primitive.shape().num_dims() {
        return None;
    }
    let flex = as_flex::<B>(&tensor.primitive)?;
    let (out, saved) = if log {
        burn_flex::ops::composed_softmax::log_softmax_forward(flex)?
    } else {
        burn_flex::ops::composed_softmax::softmax_forward(flex)?
    };
    let out: B::FloatTensorPrimitive = cast(out);
    Some(
        match FusedSoftmax
            .prepare::<C>([tensor.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                SoftmaxState {
                    exp: cast(saved.exp),
                    sums: cast(saved.sums),
                    log,
                },
                out,
            ),
            OpsKind::UnTracked(prep) => prep.finish(out),
        },
    )
}
