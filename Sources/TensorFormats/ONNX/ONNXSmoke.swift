import CONNXProto
import CProtobufC

func onnxSmoke() -> Int {
    var t = Onnx__TensorProto()
    onnx__tensor_proto__init(&t)
    let d = onnx__tensor_proto__descriptor
    return Int(t.data_type) + Int(d.n_fields) + MemoryLayout<Onnx__TensorProto>.size
}
