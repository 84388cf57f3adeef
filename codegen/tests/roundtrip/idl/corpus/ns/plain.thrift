namespace go plain_go
struct Plain { 1: i32 n }
