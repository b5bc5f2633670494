"""2D pose: the BlazePose detector and landmark graphs, person tracking, capture of 33 keypoints per frame."""
