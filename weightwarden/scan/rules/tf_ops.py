"""TensorFlow op lists used by the TensorFlow scan rules (data only).

``TF_ALLOWED_OPS`` holds the ops that ordinary inference and training graphs (and the saver / initializer
functions every SavedModel carries) use: array, math, neural-network, control-flow, resource-variable,
lookup-table, string, image, random and basic ``tf.data`` ops. ``TF_DANGEROUS_OPS`` maps ops that reach
outside the graph — read or write files named by a tensor or attribute, run Python, talk to the network,
memory-map a file, change file-system configuration — to the reason they are dangerous. An op in neither set
is *unknown* (a custom op needs a shared library loaded by the user, or a rarely used raw op); the rules decide
how to grade that.

Judgement calls, so rules and reviewers see them:
- ``SaveV2``/``RestoreV2``/``MergeV2Checkpoints``/``ShardedFilename``/``StringJoin`` are allowed: every TF2
  SavedModel's saver functions contain them, fed by the checkpoint-prefix placeholder. The legacy V1 saver ops
  (``Save``, ``SaveSlices``, ``Restore``, ``RestoreSlice``, ``RestoreV1``-style) are listed as dangerous: they
  read/write an arbitrary path and modern savers never emit them.
- ``InitializeTableFromTextFile(V2)`` is allowed (vocabulary tables read their asset file this way); the
  SavedModel reader reports asset paths that leave the assets folder separately.
- ``Print`` (stderr) is allowed; ``PrintV2`` is dangerous because its ``output_stream`` attribute may name a
  file (``file://...``) that it appends to.
- Summary *proto* ops (``ScalarSummary`` ...) are allowed; summary *writer* ops write event files.
"""

from __future__ import annotations

_ARRAY = """
Const Placeholder PlaceholderV2 PlaceholderWithDefault Identity IdentityN IdentityV2 StopGradient PreventGradient
Snapshot CheckNumerics CheckNumericsV2 Reshape Shape ShapeN Size Rank ExpandDims Squeeze Transpose ConjugateTranspose
Concat ConcatV2 ConcatOffset Split SplitV Slice StridedSlice StridedSliceGrad ResourceStridedSliceAssign
StridedSliceAssign TensorStridedSliceUpdate Pack Unpack Tile TileGrad Pad PadV2 MirrorPad MirrorPadGrad Fill ZerosLike
OnesLike Gather GatherV2 GatherNd ResourceGather ResourceGatherNd ScatterNd ScatterNdNonAliasingAdd TensorScatterAdd
TensorScatterUpdate TensorScatterSub TensorScatterMax TensorScatterMin Where Select SelectV2 Reverse ReverseV2
ReverseSequence Range LinSpace OneHot BroadcastTo BroadcastArgs BroadcastGradientArgs InvertPermutation Unique
UniqueV2 UniqueWithCounts UniqueWithCountsV2 ListDiff SetSize DenseToDenseSetOperation DenseToSparseSetOperation
Cast Bitcast EnsureShape DeepCopy Empty Roll SpaceToBatch SpaceToBatchND BatchToSpace BatchToSpaceND SpaceToDepth
DepthToSpace ExtractImagePatches ExtractVolumePatches MatrixBandPart MatrixDiag MatrixDiagV2 MatrixDiagV3
MatrixDiagPart MatrixDiagPartV2 MatrixDiagPartV3 MatrixSetDiag MatrixSetDiagV2 MatrixSetDiagV3 Diag DiagPart
QuantizeAndDequantize QuantizeAndDequantizeV2 QuantizeAndDequantizeV3 QuantizeAndDequantizeV4 FakeQuantWithMinMaxArgs
FakeQuantWithMinMaxVars FakeQuantWithMinMaxVarsPerChannel QuantizeV2 Dequantize UnravelIndex Bucketize
SearchSorted LowerBound UpperBound Fingerprint GuaranteeConst Unstage HistogramFixedWidth EditDistance
InplaceAdd InplaceSub InplaceUpdate ParallelConcat Batch Unbatch UnbatchGrad BatchFunction
"""

_MATH = """
Add AddV2 AddN Sub Mul MulNoNan Div DivNoNan RealDiv TruncateDiv FloorDiv FloorMod Mod TruncateMod Neg Abs Sign
Square Sqrt Rsqrt Exp Expm1 Log Log1p Pow Reciprocal Inv Floor Ceil Round Rint Maximum Minimum SquaredDifference
Sin Cos Tan Asin Acos Atan Atan2 Sinh Cosh Tanh Asinh Acosh Atanh Erf Erfc Erfinv Lgamma Digamma Igamma Igammac
Betainc Polygamma Zeta Xlogy Xdivy Xlog1py BesselI0e BesselI1e Sigmoid Softplus Softsign IsNan IsInf IsFinite Equal
NotEqual Less LessEqual Greater GreaterEqual LogicalAnd LogicalOr LogicalNot ApproximateEqual Sum Prod Mean Max Min
All Any ArgMax ArgMin Cumsum Cumprod CumulativeLogsumexp EuclideanNorm MatMul BatchMatMul BatchMatMulV2
BatchMatMulV3 SparseMatMul Einsum Cross MatrixInverse MatrixDeterminant LogMatrixDeterminant MatrixSolve
MatrixTriangularSolve MatrixSolveLs Cholesky Qr Svd SelfAdjointEig SelfAdjointEigV2 Eig Lu MatrixExponential
MatrixLogarithm MatrixSquareRoot Tridiagonal TridiagonalSolve TridiagonalMatMul BitwiseAnd BitwiseOr BitwiseXor
Invert LeftShift RightShift PopulationCount Complex Real Imag Angle Conj ComplexAbs ClipByValue SegmentSum
SegmentMean SegmentMax SegmentMin SegmentProd UnsortedSegmentSum UnsortedSegmentMax UnsortedSegmentMin
UnsortedSegmentProd SparseSegmentSum SparseSegmentMean SparseSegmentSqrtN SparseSegmentSumWithNumSegments
SparseSegmentMeanWithNumSegments SparseSegmentSqrtNWithNumSegments Bincount DenseBincount RaggedBincount
SparseBincount FFT IFFT FFT2D IFFT2D FFT3D IFFT3D RFFT IRFFT RFFT2D IRFFT2D RFFT3D IRFFT3D NextAfter
TanhGrad SigmoidGrad SqrtGrad RsqrtGrad ReciprocalGrad InvGrad SoftplusGrad SoftsignGrad QuantizedMatMul
QuantizedAdd QuantizedMul RequantizationRange Requantize QuantizedBiasAdd QuantizedConv2D QuantizedRelu
QuantizedReshape QuantizedConcat QuantizedMaxPool QuantizedAvgPool
"""

_NN = """
BiasAdd BiasAddV1 BiasAddGrad Relu Relu6 Elu Selu LeakyRelu Gelu Softmax LogSoftmax Conv2D Conv3D Conv1D
DepthwiseConv2dNative Conv2DBackpropInput Conv2DBackpropFilter Conv3DBackpropInputV2 Conv3DBackpropFilterV2
DepthwiseConv2dNativeBackpropInput DepthwiseConv2dNativeBackpropFilter MaxPool MaxPoolV2 MaxPool3D AvgPool AvgPool3D
MaxPoolWithArgmax MaxPoolGrad MaxPoolGradV2 MaxPool3DGrad AvgPoolGrad AvgPool3DGrad FractionalMaxPool FractionalAvgPool
FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3 FusedBatchNormGrad FusedBatchNormGradV2 FusedBatchNormGradV3
BatchNormWithGlobalNormalization LRN LRNGrad L2Loss SoftmaxCrossEntropyWithLogits
SparseSoftmaxCrossEntropyWithLogits InTopK InTopKV2 TopK TopKV2 Dilation2D NthElement ReluGrad Relu6Grad EluGrad
SeluGrad LeakyReluGrad CTCLoss CTCLossV2 CTCGreedyDecoder CTCBeamSearchDecoder FusedPadConv2D FusedResizeAndPadConv2D
Conv Dropout ApproxTopK
_FusedConv2D _FusedMatMul _FusedBatchNormEx _MklFusedBatchMatMulV2
"""

_IMAGE = """
ResizeBilinear ResizeNearestNeighbor ResizeBicubic ResizeArea ScaleAndTranslate ResizeBilinearGrad
ResizeNearestNeighborGrad CropAndResize DecodeJpeg DecodePng DecodeGif DecodeBmp DecodeImage DecodeAndCropJpeg
EncodeJpeg EncodePng ExtractJpegShape AdjustContrast AdjustContrastv2 AdjustHue AdjustSaturation RGBToHSV HSVToRGB
NonMaxSuppression NonMaxSuppressionV2 NonMaxSuppressionV3 NonMaxSuppressionV4 NonMaxSuppressionV5
CombinedNonMaxSuppression DrawBoundingBoxes DrawBoundingBoxesV2 SampleDistortedBoundingBox
SampleDistortedBoundingBoxV2 ImageProjectiveTransformV2 ImageProjectiveTransformV3 DecodeRaw DecodePaddedRaw
DecodeCompressed DecodeWav EncodeWav AudioSpectrogram Mfcc
"""

_CONTROL = """
NoOp Switch Merge Enter Exit NextIteration LoopCond RefSwitch RefMerge RefEnter RefExit RefNextIteration
ControlTrigger If StatelessIf While StatelessWhile Case StatelessCase PartitionedCall StatefulPartitionedCall
For Assert Abort _Arg _Retval _DeviceArg _DeviceRetval OptionalFromValue OptionalGetValue OptionalHasValue
OptionalNone SymbolicGradient FakeParam TPUReplicatedInput TPUReplicatedOutput TPUPartitionedCall
TPUCompilationResult TPUReplicateMetadata TPUOrdinalSelector XlaLaunch XlaClusterOutput XlaSharding
XlaCallModule Print
"""

_VARIABLES = """
VarHandleOp ReadVariableOp AssignVariableOp AssignAddVariableOp AssignSubVariableOp VarIsInitializedOp
DestroyResourceOp VariableShape Variable VariableV2 Assign AssignAdd AssignSub IsVariableInitialized
TemporaryVariable DestroyTemporaryVariable ResourceScatterAdd ResourceScatterSub ResourceScatterMul
ResourceScatterDiv ResourceScatterMin ResourceScatterMax ResourceScatterUpdate ResourceScatterNdAdd
ResourceScatterNdSub ResourceScatterNdUpdate ResourceScatterNdMax ResourceScatterNdMin ScatterAdd ScatterSub
ScatterMul ScatterDiv ScatterUpdate ScatterMax ScatterMin ScatterNdAdd ScatterNdSub ScatterNdUpdate
ResourceApplyGradientDescent ResourceApplyMomentum ResourceApplyKerasMomentum ResourceApplyAdam
ResourceApplyAdamWithAmsgrad ResourceApplyAdagrad ResourceApplyAdagradV2 ResourceApplyAdadelta ResourceApplyRMSProp
ResourceApplyCenteredRMSProp ResourceApplyFtrl ResourceApplyFtrlV2 ResourceApplyAdaMax ResourceApplyProximalAdagrad
ResourceApplyProximalGradientDescent ResourceApplyAddSign ResourceApplyPowerSign ResourceSparseApplyAdagrad
ResourceSparseApplyAdagradV2 ResourceSparseApplyMomentum ResourceSparseApplyKerasMomentum ResourceSparseApplyFtrl
ResourceSparseApplyFtrlV2 ResourceSparseApplyRMSProp ResourceSparseApplyAdadelta ResourceSparseApplyCenteredRMSProp
ResourceSparseApplyProximalAdagrad ResourceSparseApplyProximalGradientDescent ApplyGradientDescent ApplyMomentum
ApplyAdam ApplyAdagrad ApplyAdadelta ApplyRMSProp ApplyCenteredRMSProp ApplyFtrl ApplyFtrlV2 ApplyAdaMax
SparseApplyAdagrad SparseApplyMomentum SparseApplyFtrl SparseApplyRMSProp
SaveV2 RestoreV2 MergeV2Checkpoints ShardedFilename ShardedFilespec StringJoin DisableCopyOnRead
"""

_TABLES_AND_STRINGS = """
HashTable HashTableV2 MutableHashTable MutableHashTableV2 MutableHashTableOfTensors MutableHashTableOfTensorsV2
MutableDenseHashTable MutableDenseHashTableV2 AnonymousHashTable AnonymousMutableHashTable
AnonymousMutableDenseHashTable AnonymousMutableHashTableOfTensors LookupTableFind LookupTableFindV2
LookupTableInsert LookupTableInsertV2 LookupTableRemoveV2 LookupTableSize LookupTableSizeV2 LookupTableExport
LookupTableExportV2 LookupTableImport LookupTableImportV2 InitializeTable InitializeTableV2
InitializeTableFromTextFile InitializeTableFromTextFileV2 InitializeTableFromDataset StringToHashBucket
StringToHashBucketFast StringToHashBucketStrong StringToNumber AsString StringFormat StringLength StringLower
StringUpper StringSplit StringSplitV2 StringStrip Substr RegexReplace StaticRegexReplace RegexFullMatch
StaticRegexFullMatch ReduceJoin UnicodeDecode UnicodeDecodeWithOffsets UnicodeEncode UnicodeScript UnicodeTranscode
StringNGrams EncodeBase64 DecodeBase64 DecodeCSV ParseExample ParseExampleV2 ParseSingleExample
ParseSequenceExample ParseSequenceExampleV2 ParseSingleSequenceExample ParseTensor SerializeTensor
SerializeManySparse SerializeSparse DeserializeSparse DeserializeManySparse DecodeJSONExample
ScalarSummary HistogramSummary ImageSummary AudioSummary AudioSummaryV2 TensorSummary TensorSummaryV2 MergeSummary
SparseToDense SparseTensorDenseMatMul SparseTensorDenseAdd SparseAdd SparseReshape SparseReorder SparseConcat
SparseSlice SparseFillEmptyRows SparseReduceSum SparseReduceMax SparseSoftmax SparseToSparseSetOperation
SparseDenseCwiseAdd SparseDenseCwiseMul SparseDenseCwiseDiv SparseSplit SparseCross SparseCrossV2 SparseCrossHashed
SparseSegmentSumGrad SparseTensorSliceDataset AddSparseToTensorsMap AddManySparseToTensorsMap
TakeManySparseFromTensorsMap RaggedGather RaggedRange RaggedTensorToTensor RaggedTensorToSparse
RaggedTensorFromVariant RaggedTensorToVariant RaggedTensorToVariantGradient RaggedCross RaggedFillEmptyRows
TensorListFromTensor TensorListStack TensorListGetItem TensorListSetItem TensorListReserve TensorListLength
TensorListPushBack TensorListPopBack TensorListElementShape TensorListConcatV2 TensorListSplit TensorListGather
TensorListScatter TensorListScatterV2 TensorListScatterIntoExistingList TensorListResize EmptyTensorList
TensorListConcatLists TensorListPushBackBatch TensorListConcat TensorArrayV3 TensorArrayReadV3 TensorArrayWriteV3
TensorArrayGatherV3 TensorArrayScatterV3 TensorArraySizeV3 TensorArrayCloseV3 TensorArrayConcatV3
TensorArraySplitV3 TensorArrayGradV3 TensorArrayGradWithShape TensorArray TensorArrayV2 TensorArrayRead
TensorArrayReadV2 TensorArrayWrite TensorArrayWriteV2 TensorArraySize TensorArraySizeV2 TensorArrayGather
TensorArrayGatherV2 TensorArrayScatter TensorArrayScatterV2 TensorArrayClose TensorArrayCloseV2
"""

_RANDOM = """
RandomUniform RandomUniformInt RandomStandardNormal TruncatedNormal RandomShuffle Multinomial RandomGamma
RandomPoisson RandomPoissonV2 ParameterizedTruncatedNormal StatelessRandomUniform StatelessRandomUniformInt
StatelessRandomUniformFullInt StatelessRandomNormal StatelessTruncatedNormal StatelessMultinomial
StatelessRandomUniformV2 StatelessRandomUniformIntV2 StatelessRandomUniformFullIntV2 StatelessRandomNormalV2
StatelessTruncatedNormalV2 StatelessRandomGetKeyCounter StatelessRandomGetKeyCounterAlg StatelessRandomGetAlg
StatelessRandomBinomial StatelessRandomGammaV2 StatelessRandomGammaV3 StatelessRandomPoisson
StatelessParameterizedTruncatedNormal StatelessShuffle RngSkip RngReadAndSkip StatefulUniform StatefulUniformInt
StatefulUniformFullInt StatefulStandardNormalV2 StatefulTruncatedNormal AnonymousSeedGenerator
DeleteSeedGenerator DummySeedGenerator RandomIndexShuffle
"""

_DATA = """
TensorDataset TensorSliceDataset RangeDataset MapDataset ParallelMapDataset ParallelMapDatasetV2 BatchDataset
BatchDatasetV2 ParallelBatchDataset PaddedBatchDataset PaddedBatchDatasetV2 FilterDataset ShuffleDataset
ShuffleDatasetV2 ShuffleDatasetV3 ShuffleAndRepeatDataset ShuffleAndRepeatDatasetV2 RepeatDataset TakeDataset
SkipDataset PrefetchDataset ZipDataset ConcatenateDataset FlatMapDataset InterleaveDataset
ParallelInterleaveDatasetV2 ParallelInterleaveDatasetV3 ParallelInterleaveDatasetV4 OptimizeDataset
OptimizeDatasetV2 ModelDataset OptionsDataset MapAndBatchDataset AnonymousIterator AnonymousIteratorV2
AnonymousIteratorV3 DeleteIterator IteratorV2 Iterator MakeIterator IteratorGetNext IteratorGetNextSync
IteratorGetNextAsOptional IteratorToStringHandle IteratorFromStringHandleV2 DatasetCardinality DatasetToGraphV2
DatasetToSingleElement ReduceDataset WindowDataset ScanDataset GroupByWindowDataset TakeWhileDataset UnbatchDataset
RebatchDatasetV2 AssertCardinalityDataset FinalizeDataset GeneratorDataset WrapDatasetVariant UnwrapDatasetVariant
"""

TF_ALLOWED_OPS: frozenset[str] = frozenset(
    (_ARRAY + _MATH + _NN + _IMAGE + _CONTROL + _VARIABLES + _TABLES_AND_STRINGS + _RANDOM + _DATA).split()
)

_READ_FILE = "reads a file whose path comes from the graph"
_WRITE_FILE = "writes a file whose path comes from the graph"
_DATASET_FILE = "tf.data source that opens files whose paths come from the graph"
_SUMMARY = "summary writer: creates or writes event files at a path from the graph"
_NETWORK = "opens a network connection to an address from the graph"
_DEBUG = "debugger op: can dump tensors to file:// or grpc:// URLs named in its attributes"

TF_DANGEROUS_OPS: dict[str, str] = {
    # Arbitrary file access.
    "ReadFile": _READ_FILE,
    "WriteFile": _WRITE_FILE,
    "MatchingFiles": "lists files matching a glob pattern from the graph (file-system reconnaissance)",
    "ImmutableConst": "memory-maps a file named in its memory_region_name attribute",
    "DecodeProtoV2": "can load a protobuf descriptor from a file named in its descriptor_source attribute",
    "EncodeProto": "can load a protobuf descriptor from a file named in its descriptor_source attribute",
    "FileSystemSetConfiguration": "changes file-system configuration of the running process",
    "Save": "legacy V1 checkpoint op: writes tensors to an arbitrary path (modern savers use SaveV2)",
    "SaveSlices": "legacy V1 checkpoint op: writes tensors to an arbitrary path (modern savers use SaveV2)",
    "Restore": "legacy V1 checkpoint op: reads tensors from an arbitrary path (modern savers use RestoreV2)",
    "RestoreSlice": "legacy V1 checkpoint op: reads tensors from an arbitrary path (modern savers use RestoreV2)",
    "LoadAndRemapMatrix": "reads tensors from a checkpoint path given by the graph",
    "GenerateVocabRemapping": "reads vocabulary files whose paths come from the graph",
    "PrintV2": "prints to the stream in its output_stream attribute, which may be a file:// path it appends to",
    # File readers (queue-based input pipelines) and file-backed datasets.
    "WholeFileReader": _READ_FILE,
    "WholeFileReaderV2": _READ_FILE,
    "TextLineReader": _READ_FILE,
    "TextLineReaderV2": _READ_FILE,
    "TFRecordReader": _READ_FILE,
    "TFRecordReaderV2": _READ_FILE,
    "FixedLengthRecordReader": _READ_FILE,
    "FixedLengthRecordReaderV2": _READ_FILE,
    "LMDBReader": _READ_FILE,
    "IdentityReader": "queue-based reader; returns work-queue items as file contents",
    "IdentityReaderV2": "queue-based reader; returns work-queue items as file contents",
    "ReaderRead": _READ_FILE,
    "ReaderReadV2": _READ_FILE,
    "ReaderReadUpTo": _READ_FILE,
    "ReaderReadUpToV2": _READ_FILE,
    "TFRecordDataset": _DATASET_FILE,
    "TFRecordDatasetV2": _DATASET_FILE,
    "TextLineDataset": _DATASET_FILE,
    "FixedLengthRecordDataset": _DATASET_FILE,
    "FixedLengthRecordDatasetV2": _DATASET_FILE,
    "CSVDataset": _DATASET_FILE,
    "CSVDatasetV2": _DATASET_FILE,
    "ExperimentalCSVDataset": _DATASET_FILE,
    "LMDBDataset": _DATASET_FILE,
    "ExperimentalLMDBDataset": _DATASET_FILE,
    "SqlDataset": "opens a database (sqlite file) named by the graph and runs a query",
    "ExperimentalSqlDataset": "opens a database (sqlite file) named by the graph and runs a query",
    "MatchingFilesDataset": "lists files matching a glob pattern from the graph",
    "ExperimentalMatchingFilesDataset": "lists files matching a glob pattern from the graph",
    "LoadDataset": _DATASET_FILE,
    "ExperimentalLoadDataset": _DATASET_FILE,
    "SaveDataset": "writes a dataset to a path from the graph",
    "SaveDatasetV2": "writes a dataset to a path from the graph",
    "DatasetToTFRecord": "writes a dataset to a TFRecord file at a path from the graph",
    "ExperimentalDatasetToTFRecord": "writes a dataset to a TFRecord file at a path from the graph",
    "SnapshotDataset": "writes dataset snapshots to a path from the graph",
    "SnapshotDatasetV2": "writes dataset snapshots to a path from the graph",
    "CacheDataset": "caches a dataset to a file path from the graph",
    "CacheDatasetV2": "caches a dataset to a file path from the graph (in memory when the path is empty)",
    "DistributedSave": "writes a dataset to a path from the graph via the tf.data service",
    # Running Python.
    "PyFunc": "calls a Python function registered in the loading process (tf.py_function / tf.numpy_function)",
    "PyFuncStateless": "calls a Python function registered in the loading process",
    "EagerPyFunc": "calls a Python function registered in the loading process",
    # Network.
    "Rpc": _NETWORK,
    "TryRpc": _NETWORK,
    "RpcClient": _NETWORK,
    "RpcCall": _NETWORK,
    "RpcServer": "starts an RPC server in the loading process",
    "RpcServerStart": "starts an RPC server in the loading process",
    "RpcServerRegister": "registers a function with an RPC server",
    "DataServiceDataset": _NETWORK,
    "DataServiceDatasetV2": _NETWORK,
    "DataServiceDatasetV3": _NETWORK,
    "DataServiceDatasetV4": _NETWORK,
    "RegisterDataset": _NETWORK,
    "RegisterDatasetV2": _NETWORK,
    "RemoteCall": "runs a function on another (possibly remote) device or task",
    "_Send": "cross-device/host transfer op; never present in a saved graph written by TensorFlow",
    "_Recv": "cross-device/host transfer op; never present in a saved graph written by TensorFlow",
    "_HostSend": "cross-device/host transfer op; never present in a saved graph written by TensorFlow",
    "_HostRecv": "cross-device/host transfer op; never present in a saved graph written by TensorFlow",
    # Debugger and summary writers.
    "DebugIdentity": _DEBUG,
    "DebugIdentityV2": _DEBUG,
    "DebugIdentityV3": _DEBUG,
    "DebugNanCount": _DEBUG,
    "DebugNumericSummary": _DEBUG,
    "DebugNumericSummaryV2": _DEBUG,
    "Copy": _DEBUG,
    "CopyHost": _DEBUG,
    "CreateSummaryFileWriter": _SUMMARY,
    "CreateSummaryDbWriter": _SUMMARY,
    "SummaryWriter": _SUMMARY,
    "WriteSummary": _SUMMARY,
    "WriteRawProtoSummary": _SUMMARY,
    "WriteScalarSummary": _SUMMARY,
    "WriteHistogramSummary": _SUMMARY,
    "WriteImageSummary": _SUMMARY,
    "WriteAudioSummary": _SUMMARY,
    "WriteGraphSummary": _SUMMARY,
    "ImportEvent": _SUMMARY,
    "FlushSummaryWriter": _SUMMARY,
    "CloseSummaryWriter": _SUMMARY,
    "StatsAggregatorSetSummaryWriter": _SUMMARY,
}

# An op must never be in both sets.
assert not (TF_ALLOWED_OPS & TF_DANGEROUS_OPS.keys()), sorted(TF_ALLOWED_OPS & TF_DANGEROUS_OPS.keys())

__all__ = ["TF_ALLOWED_OPS", "TF_DANGEROUS_OPS"]
