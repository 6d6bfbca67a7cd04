// The guided tour; grows with the mesh.
console.log('weft demo: the embedded cluster is not built yet');
