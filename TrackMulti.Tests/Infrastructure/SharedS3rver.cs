namespace TrackMulti.Tests.Infrastructure;

/// <summary>
/// The one s3rver the whole test assembly shares (each test in a bucket of its own, see
/// <see cref="S3rverBucket.CreateAsync"/>): started on first use, stopped when the test process exits.
/// </summary>
internal static class SharedS3rver
{
    private static readonly Lazy<Task<S3rverProcess>> Instance = new(StartAsync);

    public static Task<S3rverProcess> GetAsync() => Instance.Value;

    private static async Task<S3rverProcess> StartAsync()
    {
        var s3 = await S3rverProcess.StartAsync();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => s3.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return s3;
    }
}
