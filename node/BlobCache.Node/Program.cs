// The sidecar node is built in its own issue; until then the command says so plainly.
Console.Error.WriteLine("blobcache: the sidecar node is not built yet; run the simulator: dotnet run -c Release --project sim/BlobCache.Sim");
return 2;
