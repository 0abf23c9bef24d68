"""One reader per tensor container, for :mod:`weightwarden.lineage.tensors` (private: import that module).

Each reader turns one file into a list of :class:`~weightwarden.lineage._containers._stored._Stored` records
(stored name, file, element type, shape, byte range, layout) without reading any tensor bytes;
:mod:`weightwarden.lineage.tensors` chooses the reader, gives the tensors canonical names and maps their
bytes. The readers never import ``tensors`` (it imports them).

- ``_stored``: the record, the element-type table and the header checks the readers share
- ``safetensors``, ``gguf``, ``pytorch``, ``numpy_files``, ``onnx``: one container each
- ``hf_folder``: the metadata files next to the weights of a Hugging Face folder (config, README, tokenizer)
"""
