using System.Text.Json.Nodes;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>
/// What most Api tests start from: a bucket of their own in a real s3rver, and a spool folder for the Api under test.
/// The bucket is in the assembly's shared s3rver (<see cref="CreateAsync"/>), or, for a test that stops S3, in an
/// s3rver of its own (<see cref="StartWithOwnS3rverAsync"/>).
/// </summary>
internal sealed class S3rverBucket : IAsyncDisposable
{
    private readonly bool _ownsS3;

    private S3rverBucket(S3rverProcess s3, bool ownsS3, string name, string spoolDirectory)
    {
        S3 = s3;
        _ownsS3 = ownsS3;
        Name = name;
        SpoolDirectory = spoolDirectory;
    }

    public S3rverProcess S3 { get; }
    public string Name { get; }
    public string SpoolDirectory { get; }

    /// <summary>The spool folder of the Api started against this bucket (its default instance id's).</summary>
    public string ApiSpool => Path.Combine(SpoolDirectory, ApiTestSettings.InstanceId);

    /// <summary>A new bucket, named after <paramref name="purpose"/> and unique, in the shared s3rver.</summary>
    public static async Task<S3rverBucket> CreateAsync(string purpose)
    {
        var s3 = await SharedS3rver.GetAsync();
        var name = $"{purpose}-{Guid.NewGuid():N}"[..Math.Min(63, purpose.Length + 9)];
        await s3.CreateBucketAsync(name);
        return new S3rverBucket(s3, ownsS3: false, name, TestPaths.NewTemporaryDirectory($"{name}-spool"));
    }

    /// <summary>A bucket in an s3rver this test owns, and may stop and start again to simulate an outage.</summary>
    public static async Task<S3rverBucket> StartWithOwnS3rverAsync(string name)
    {
        var s3 = await S3rverProcess.StartAsync();
        await s3.CreateBucketAsync(name);
        return new S3rverBucket(s3, ownsS3: true, name, TestPaths.NewTemporaryDirectory($"{name}-spool"));
    }

    /// <summary>The Api as a child process (<see cref="ApiProcess.StartAgainstAsync"/>) against this bucket, with this spool.</summary>
    public Task<ApiProcess> StartApiAsync(params (string Name, string Value)[] settings) =>
        ApiProcess.StartAgainstAsync(S3, Name, SpoolDirectory, settings);

    public async Task<IReadOnlyList<StoredObject>> ObjectsAsync(string prefix = "events/")
    {
        using var client = S3.CreateClient();
        return await StoredObject.ReadAllAsync(client, Name, prefix);
    }

    /// <summary>Every stored NDJSON line under <paramref name="prefix"/>, objects in key order.</summary>
    public async Task<List<JsonObject>> LinesAsync(string prefix = "events/") => [.. (await ObjectsAsync(prefix)).SelectMany(o => o.Lines())];

    public async ValueTask DisposeAsync()
    {
        if (_ownsS3)
        {
            await S3.DisposeAsync();
        }
        try
        {
            Directory.Delete(SpoolDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
